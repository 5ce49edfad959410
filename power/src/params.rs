//! Reading a BMC's power parameters, shared by every driver.

use crate::{PowerError, PowerParams};

/// A required, non-empty parameter.
pub(crate) fn required<'a>(params: &'a PowerParams, name: &str) -> Result<&'a str, PowerError> {
    match params.get(name).map(|s| s.trim()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(PowerError::Config(format!("{name} is required"))),
    }
}

/// An optional parameter, empty treated as absent.
pub(crate) fn optional<'a>(params: &'a PowerParams, name: &str) -> Option<&'a str> {
    params.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}
