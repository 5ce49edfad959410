//! Helpers shared by the rack's integration tests: privilege checks, and
//! (one copy, in `power/tests/common`) the peer-program, free-port,
//! child-process and polling helpers the power tests use too.

#![allow(dead_code)]

#[path = "../../../power/tests/common/mod.rs"]
mod shared;
pub use shared::*;

/// Whether we run as root (network namespaces, port 67, tftpd-hpa).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Returns false (and prints why) when the test must be skipped: only for a
/// missing privilege, never for a missing package.
pub fn need_root(test: &str) -> bool {
    if !is_root() {
        eprintln!("SKIP {test}: needs root (network namespaces / privileged ports)");
        return false;
    }
    true
}
