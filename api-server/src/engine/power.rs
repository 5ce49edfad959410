//! Power types and their parameters, and the [`PowerDriver`] seam.
//!
//! The region validates and stores power settings per driver; the drivers
//! that talk to BMCs (IPMI, Redfish) live in the rack controller. Until a rack
//! is connected, only `manual` (the operator powers the machine) can act.
//! Power parameters hold BMC passwords: they are rendered only to admins and
//! never logged.

use std::collections::BTreeMap;

use crate::error;
use crate::error::{Error, Result};

/// Every power type MAAS 3.6 knows, plus `virtual` (Ironpool's simulated BMCs).
pub const POWER_TYPES: &[&str] = &[
    "amt", "apc", "dli", "eaton", "hmc", "hmcz", "ipmi", "lxd", "manual", "moonshot", "mscm", "msftocs", "nova",
    "openbmc", "proxmox", "raritan", "recs_box", "redfish", "sm15k", "ucsm", "virsh", "virtual", "vmware", "webhook",
    "wedge",
];

/// A driver's parameter: name, required, allowed values (empty = free text).
struct Field {
    name: &'static str,
    required: bool,
    choices: &'static [&'static str],
    default: Option<&'static str>,
}

const fn f(name: &'static str, required: bool) -> Field {
    Field { name, required, choices: &[], default: None }
}

fn fields(power_type: &str) -> Vec<Field> {
    match power_type {
        "ipmi" => vec![
            Field { name: "power_driver", required: true, choices: &["LAN", "LAN_2_0"], default: Some("LAN_2_0") },
            Field {
                name: "power_boot_type",
                required: false,
                choices: &["auto", "legacy", "efi"],
                default: Some("auto"),
            },
            f("power_address", true),
            f("power_user", false),
            f("power_pass", false),
            f("k_g", false),
            Field {
                name: "cipher_suite_id",
                required: false,
                choices: &["", "3", "8", "12", "17"],
                default: Some("3"),
            },
            Field {
                name: "privilege_level",
                required: false,
                choices: &["USER", "OPERATOR", "ADMIN"],
                default: Some("OPERATOR"),
            },
            Field { name: "workaround_flags", required: false, choices: &[], default: Some("opensesspriv") },
            f("mac_address", false),
            Field { name: "power_off_mode", required: false, choices: &["hard", "soft"], default: Some("hard") },
        ],
        "redfish" => {
            vec![
                f("power_address", true),
                f("power_user", false),
                f("power_pass", false),
                f("node_id", false),
                // Off by default: BMCs ship self-signed certificates (and MAAS
                // verifies none). `y` checks the BMC's certificate.
                Field { name: "power_verify_ssl", required: false, choices: &["", "n", "y"], default: None },
            ]
        }
        "virsh" => vec![f("power_address", true), f("power_id", true), f("power_pass", false)],
        "webhook" => vec![
            f("power_on_uri", true),
            f("power_off_uri", true),
            f("power_query_uri", false),
            f("power_on_regex", false),
            f("power_off_regex", false),
            f("power_user", false),
            f("power_pass", false),
            f("power_token", false),
            f("power_verify_ssl", false),
        ],
        // Ironpool's simulated BMCs (demo machines, tests).
        "virtual" => vec![f("power_address", true), f("power_pass", false)],
        "manual" | "" => vec![],
        // Other drivers: an address and credentials, not validated further.
        _ => vec![
            f("power_address", false),
            f("power_user", false),
            f("power_pass", false),
            f("power_id", false),
            f("power_port", false),
        ],
    }
}

/// Names whose values are secrets (never shown to non-admins, never
/// logged, stored encrypted).
pub use ironpool_common::power::is_secret;

pub type PowerParams = BTreeMap<String, String>;

pub fn validate_type(power_type: &str) -> Result<()> {
    if power_type.is_empty() || POWER_TYPES.contains(&power_type) {
        Ok(())
    } else {
        Err(Error::field(
            "power_type",
            format!(
                "Select a valid choice. {power_type} is not one of the available choices: {}.",
                POWER_TYPES.join(", ")
            ),
        ))
    }
}

/// Validates parameters against the driver's fields and fills defaults.
/// With `skip_check` only the power type itself is checked.
pub fn validate(power_type: &str, mut params: PowerParams, skip_check: bool) -> Result<PowerParams> {
    validate_type(power_type)?;
    if skip_check {
        return Ok(params);
    }
    let fields = fields(power_type);
    let mut errors = error::FieldErrors::new();
    for (k, _) in params.iter() {
        if !fields.iter().any(|f| f.name == k) {
            errors.insert(
                format!("power_parameters_{k}"),
                vec![format!("Unknown power parameter '{k}' for power type '{power_type}'.")],
            );
        }
    }
    for field in &fields {
        if let Some(d) = field.default {
            params.entry(field.name.to_string()).or_insert_with(|| d.to_string());
        }
        let v = params.get(field.name).map(String::as_str).unwrap_or("");
        if field.required && v.trim().is_empty() {
            errors.insert(format!("power_parameters_{}", field.name), vec!["This field is required.".into()]);
        } else if !field.choices.is_empty() && !field.choices.contains(&v) {
            errors.insert(
                format!("power_parameters_{}", field.name),
                vec![format!(
                    "Select a valid choice. {v} is not one of the available choices: {}.",
                    field.choices.join(", ")
                )],
            );
        }
    }
    if errors.is_empty() {
        Ok(params)
    } else {
        Err(Error::Validation(errors))
    }
}

/// One power type as `describe_power_types` lists it: its parameters with
/// what validation requires of them.
#[derive(Debug, Clone)]
pub struct PowerTypeInfo {
    pub name: &'static str,
    pub fields: Vec<FieldInfo>,
}

#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub name: &'static str,
    pub required: bool,
    pub choices: &'static [&'static str],
    pub default: Option<&'static str>,
    /// A credential: never shown to non-admins, stored encrypted.
    pub secret: bool,
}

/// Every power type of [`POWER_TYPES`] with its parameters, rendered from
/// the same table validation uses, so the list cannot promise more than
/// the API accepts.
pub fn describe() -> Vec<PowerTypeInfo> {
    POWER_TYPES
        .iter()
        .map(|&name| PowerTypeInfo {
            name,
            fields: fields(name)
                .into_iter()
                .map(|f| FieldInfo {
                    name: f.name,
                    required: f.required,
                    choices: f.choices,
                    default: f.default,
                    secret: is_secret(f.name),
                })
                .collect(),
        })
        .collect()
}

/// Whether power actions need no BMC at all: the operator powers the
/// machine (`manual`, or no power type), so they complete at once.
pub fn region_can_drive(power_type: &str) -> bool {
    matches!(power_type, "manual" | "")
}

pub use ironpool_common::power::{PowerAction, PowerState};
pub use ironpool_power::virtual_bmc::{VirtualBmc, VirtualBmcs};
pub use ironpool_power::{Drivers, RetryPolicy};

/// The BMC drivers this region process runs itself (the rack controller's
/// drivers, embedded), and the registry of simulated BMCs behind `virtual`.
#[derive(Clone)]
pub struct PowerHub {
    pub drivers: Drivers,
    pub virtual_bmcs: VirtualBmcs,
    pub retry: RetryPolicy,
}

impl Default for PowerHub {
    fn default() -> Self {
        let virtual_bmcs = VirtualBmcs::new();
        PowerHub { drivers: Drivers::standard(virtual_bmcs.clone()), virtual_bmcs, retry: RetryPolicy::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> PowerParams {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn ipmi_requires_address_and_fills_defaults() {
        let e = validate("ipmi", p(&[]), false).unwrap_err();
        let Error::Validation(f) = e else { panic!() };
        assert!(f.contains_key("power_parameters_power_address"));
        let ok = validate("ipmi", p(&[("power_address", "10.0.0.5"), ("power_pass", "x")]), false).unwrap();
        assert_eq!(ok["power_driver"], "LAN_2_0");
        assert_eq!(ok["cipher_suite_id"], "3");
        assert!(validate("ipmi", p(&[("power_address", "a"), ("privilege_level", "GOD")]), false).is_err());
        assert!(validate("ipmi", p(&[("power_address", "a"), ("bogus", "1")]), false).is_err());
        assert!(validate("ipmi", p(&[("bogus", "1")]), true).is_ok());
    }

    #[test]
    fn unknown_type() {
        assert!(validate_type("telepathy").is_err());
        assert!(validate("manual", p(&[]), false).is_ok());
    }
}
