//! The `Authorization: OAuth …` parser on arbitrary header values: it must
//! never panic, and never invent a `realm` or an empty name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    if let Some(params) = ironpool_common::oauth_header::parse(value) {
        for (k, _) in &params {
            assert!(!k.is_empty() && !k.eq_ignore_ascii_case("realm"));
        }
        assert!(params.len() <= value.len());
    }
});
