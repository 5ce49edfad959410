//! The constraint language on arbitrary forms: the input is read as
//! `name=value&…` (no percent-decoding: the parser sees decoded pairs) and
//! parsed for allocate and for list filters, and its `storage` and
//! `interfaces` mini-languages are parsed on the whole input too. It must
//! never panic, and an accepted form must be inside the limits.
#![no_main]

use ironpool_common::constraints::{self, Mode, MAX_INTERFACE_TERMS, MAX_VALUES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = constraints::parse_storage(text);
    let _ = constraints::parse_interfaces(text);
    let pairs: Vec<(String, String)> = text
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    for mode in [Mode::Allocate, Mode::List] {
        if let Ok(c) = constraints::parse(&pairs, mode) {
            let values: usize = c.names().iter().map(|n| c.list(n).len()).sum();
            assert!(values <= MAX_VALUES);
            let terms: usize = c.interfaces.iter().flat_map(|s| s.terms.values()).map(Vec::len).sum();
            assert!(terms <= MAX_INTERFACE_TERMS);
        }
    }
});
