//! `version/`: what gomaasapi, python-libmaas and Juju probe first.

use serde::Serialize;

#[derive(Serialize)]
pub struct Version {
    pub capabilities: &'static [&'static str],
    pub version: &'static str,
    pub subversion: &'static str,
}

/// This region's answer: the MAAS version it is compatible with.
pub fn current() -> Version {
    Version {
        capabilities: &ironpool_common::CAPABILITIES,
        version: ironpool_common::MAAS_COMPAT_VERSION,
        subversion: "",
    }
}
