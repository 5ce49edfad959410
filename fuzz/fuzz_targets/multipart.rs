//! The multipart splitter on arbitrary bodies: the first line of the input
//! is the boundary, the rest the body. It must never panic, and what it
//! returns must respect its caps.
#![no_main]

use ironpool_common::multipart::{split, MAX_PARTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (boundary, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"b"[..], data),
    };
    let Ok(boundary) = std::str::from_utf8(boundary) else { return };
    if let Ok(parts) = split(boundary, body) {
        assert!(parts.len() <= MAX_PARTS);
        let total: usize = parts.iter().map(|p| p.body.len()).sum();
        assert!(total <= body.len(), "parts hold more bytes than the body");
    }
});
