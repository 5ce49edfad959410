//! Power actions, states, errors and the [`PowerDriver`] trait shared by the
//! region's engine and the rack controller's BMC drivers.
//!
//! Parameter names are MAAS's (`power_address`, `power_user`, `power_pass`,
//! `k_g`, `cipher_suite_id`, `privilege_level`, `power_driver`, `node_id` …) so
//! stored MAAS machines carry over unchanged. Parameter maps hold BMC
//! passwords: log them only through [`redacted`].

use std::collections::BTreeMap;
use std::fmt;

/// A machine's power parameters, by MAAS name.
pub type PowerParams = BTreeMap<String, String>;

/// What a power driver is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerAction {
    On,
    Off,
    Cycle,
    Query,
}

impl PowerAction {
    pub const ALL: [PowerAction; 4] = [PowerAction::On, PowerAction::Off, PowerAction::Cycle, PowerAction::Query];

    /// The wire/storage name ("on", "off", "cycle", "query").
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Cycle => "cycle",
            PowerAction::Query => "query",
        }
    }

    pub fn parse(s: &str) -> Option<PowerAction> {
        PowerAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A machine's power state as MAAS reports it (`power_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    On,
    Off,
    Unknown,
    Error,
}

impl PowerState {
    pub const ALL: [PowerState; 4] = [PowerState::On, PowerState::Off, PowerState::Unknown, PowerState::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::Unknown => "unknown",
            PowerState::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<PowerState> {
        PowerState::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a power action failed. The kinds matter to callers: a timeout or an
/// unreachable BMC may be retried, rejected credentials must not be (BMCs lock
/// accounts after repeated failures), bad parameters need the operator.
/// Messages name the BMC and say what to check; they never contain secrets.
// Serialisable so a rack can report a failure to the region with its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PowerError {
    #[error("BMC {target} did not answer in time: {detail}; check power_address and that the BMC is reachable from the rack")]
    Timeout { target: String, detail: String },
    #[error(
        "BMC {target} rejected the credentials: {detail}; check power_user, power_pass (and k_g / privilege_level)"
    )]
    Auth { target: String, detail: String },
    #[error("BMC {target} is unreachable: {detail}")]
    Unreachable { target: String, detail: String },
    #[error("invalid power parameters: {0}")]
    Config(String),
    #[error("power driver failed for {target}: {detail}")]
    Other { target: String, detail: String },
}

impl PowerError {
    /// Whether trying again could help (network trouble, not credentials or
    /// configuration).
    pub fn is_transient(&self) -> bool {
        matches!(self, PowerError::Timeout { .. } | PowerError::Unreachable { .. })
    }

    /// A short stable name for the kind, for metrics and events.
    pub fn kind(&self) -> &'static str {
        match self {
            PowerError::Timeout { .. } => "timeout",
            PowerError::Auth { .. } => "auth",
            PowerError::Unreachable { .. } => "unreachable",
            PowerError::Config(_) => "config",
            PowerError::Other { .. } => "other",
        }
    }
}

/// A BMC protocol. `act` performs the action and returns the resulting state;
/// `Ok(None)` when the driver cannot observe the machine (manual power).
#[async_trait::async_trait]
pub trait PowerDriver: Send + Sync {
    /// The MAAS `power_type` this driver implements ("ipmi", "redfish", …).
    fn power_type(&self) -> &'static str;

    async fn act(&self, action: PowerAction, params: &PowerParams) -> Result<Option<PowerState>, PowerError>;
}

/// Names whose values are secrets (never shown to non-admins, never logged).
pub fn is_secret(name: &str) -> bool {
    matches!(name, "power_pass" | "k_g" | "power_token")
}

/// A copy of `params` safe to log: secret values replaced by `***`.
pub fn redacted(params: &PowerParams) -> PowerParams {
    params
        .iter()
        .map(|(k, v)| (k.clone(), if is_secret(k) && !v.is_empty() { "***".to_string() } else { v.clone() }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in PowerAction::ALL {
            assert_eq!(PowerAction::parse(a.as_str()), Some(a));
        }
        for s in PowerState::ALL {
            assert_eq!(PowerState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PowerAction::parse("reboot"), None);
        assert_eq!(PowerState::parse("ON"), None);
    }

    #[test]
    fn secrets_are_redacted_and_errors_say_what_to_check() {
        let p: PowerParams = [("power_pass", "hunter2"), ("power_user", "admin")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let r = redacted(&p);
        assert_eq!(r["power_pass"], "***");
        assert_eq!(r["power_user"], "admin");
        let e = PowerError::Auth { target: "10.0.0.5".into(), detail: "password invalid".into() };
        assert!(e.to_string().contains("power_pass"));
        assert!(!e.is_transient());
        assert!(PowerError::Timeout { target: "x".into(), detail: "y".into() }.is_transient());
    }
}
