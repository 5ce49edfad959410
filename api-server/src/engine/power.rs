//! Power types and their parameters, and the [`PowerDriver`] seam.
//!
//! The region validates and stores power settings per driver, and accepts
//! only the power types `ironpool-power` has a driver for ([`POWER_TYPES`]);
//! the drivers run on a connected rack, or in the region while none is.
//! Power parameters hold BMC passwords: they are rendered only to admins and
//! never logged.

use std::collections::BTreeMap;

use crate::error;
use crate::error::{Error, Result};

/// The power types Ironpool has a driver for, and so what
/// `describe_power_types` lists and what machines may be given (`virtual`
/// is Ironpool's simulated BMC, for the demo and tests). A type is added
/// here only together with its driver in `ironpool-power`.
pub const POWER_TYPES: &[&str] = &["ipmi", "manual", "redfish", "ucsm", "virsh", "virtual", "webhook"];

/// The chassis types this region can probe for `add_chassis` (MAAS's
/// `powerkvm` is the old name for a virsh host). Declared with the power
/// types so the table can say which drivers probe (`can_probe`).
pub const CHASSIS_TYPES: &[&str] = &["powerkvm", "ucsm", "virsh"];

/// MAAS 3.6's other power types: known names without a driver here. They
/// are refused (400 naming the supported types) rather than stored, so a
/// machine never waits for a power action nothing can perform.
pub const WITHOUT_DRIVER: &[&str] = &[
    "amt", "apc", "dli", "eaton", "hmc", "hmcz", "lxd", "moonshot", "mscm", "msftocs", "nova", "openbmc", "proxmox",
    "raritan", "recs_box", "sm15k", "vmware", "wedge",
];

/// A driver's parameter: name, required, allowed values (empty = free
/// text), default. Together with [`POWER_TYPES`] this is the power type
/// table `describe_power_types` renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub required: bool,
    pub choices: &'static [&'static str],
    pub default: Option<&'static str>,
}

const fn f(name: &'static str, required: bool) -> Field {
    Field { name, required, choices: &[], default: None }
}

/// The parameters of a supported power type (none for `manual`).
pub fn fields(power_type: &str) -> Vec<Field> {
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
        // MAAS's ucsm settings, in its order: the server's UUID (the key the
        // manager finds it by), the XML API URL and the API account.
        "ucsm" => vec![f("uuid", true), f("power_address", true), f("power_user", false), f("power_pass", false)],
        // MAAS's virsh settings: the libvirt URI, the domain, and the SSH
        // password for qemu+ssh:// addresses.
        "virsh" => vec![f("power_address", true), f("power_id", true), f("power_pass", false)],
        // MAAS 3.x's webhook settings, with its defaults and choices.
        "webhook" => vec![
            f("power_on_uri", true),
            f("power_off_uri", true),
            f("power_query_uri", true),
            Field {
                name: "power_on_regex",
                required: true,
                choices: &[],
                default: Some(ironpool_power::webhook::DEFAULT_ON_REGEX),
            },
            Field {
                name: "power_off_regex",
                required: true,
                choices: &[],
                default: Some(ironpool_power::webhook::DEFAULT_OFF_REGEX),
            },
            f("power_user", false),
            f("power_pass", false),
            f("power_token", false),
            Field { name: "power_verify_ssl", required: true, choices: &["n", "y"], default: Some("n") },
        ],
        // Ironpool's simulated BMCs (demo machines, tests).
        "virtual" => vec![f("power_address", true), f("power_pass", false)],
        // `manual`, none, and (never reached: validate_type refuses them)
        // types without a driver.
        _ => vec![],
    }
}

/// Names whose values are secrets (never shown to non-admins, never
/// logged, stored encrypted).
pub use ironpool_common::power::is_secret;

pub type PowerParams = BTreeMap<String, String>;

pub fn validate_type(power_type: &str) -> Result<()> {
    if power_type.is_empty() || POWER_TYPES.contains(&power_type) {
        Ok(())
    } else if WITHOUT_DRIVER.contains(&power_type) {
        Err(Error::field(
            "power_type",
            format!(
                "Power type '{power_type}' is not supported by this region: it has no power driver. \
                 Supported power types: {}.",
                POWER_TYPES.join(", ")
            ),
        ))
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

/// What a driver gets for a node: its stored parameters plus `system_id`
/// (the webhook driver sends it as MAAS's `System_Id` header). Never stored:
/// `validate` would refuse it as an unknown parameter.
pub fn driver_params(system_id: &str, stored_json: &str) -> PowerParams {
    let mut params: PowerParams = serde_json::from_str(stored_json).unwrap_or_default();
    params.insert("system_id".into(), system_id.to_string());
    params
}

/// One power type as `describe_power_types` lists it: its parameters with
/// what validation requires of them.
#[derive(Debug, Clone)]
pub struct PowerTypeInfo {
    pub name: &'static str,
    /// MAAS's `chassis`: one BMC address serves several machines.
    pub chassis: bool,
    /// MAAS's `can_probe`: `add_chassis` can list a chassis's machines.
    pub can_probe: bool,
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
            // As MAAS's drivers declare them: a Redfish manager may hold
            // several systems, but MAAS's Redfish driver cannot probe.
            chassis: matches!(name, "redfish" | "ucsm" | "virsh"),
            can_probe: CHASSIS_TYPES.contains(&name),
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
pub use ironpool_power::ucsm::{UcsmDriver, UcsmProbe, UcsmServer};
pub use ironpool_power::virsh::{VirshDomain, VirshDriver};
pub use ironpool_power::virtual_bmc::{VirtualBmc, VirtualBmcs};
pub use ironpool_power::{Drivers, PowerError, RetryPolicy};

/// The BMC drivers this region process runs itself (the rack controller's
/// drivers, embedded), and the registry of simulated BMCs behind `virtual`.
#[derive(Clone)]
pub struct PowerHub {
    pub drivers: Drivers,
    pub virtual_bmcs: VirtualBmcs,
    pub retry: RetryPolicy,
    /// The virsh driver `drivers` holds, for what is not a power action:
    /// probing a chassis (`add_chassis`).
    pub virsh: VirshDriver,
    /// The ucsm driver, for probing a UCS Manager (`add_chassis`).
    pub ucsm: UcsmDriver,
}

impl Default for PowerHub {
    fn default() -> Self {
        let virtual_bmcs = VirtualBmcs::new();
        PowerHub {
            drivers: Drivers::standard(virtual_bmcs.clone()),
            virtual_bmcs,
            retry: RetryPolicy::default(),
            virsh: VirshDriver::default(),
            ucsm: UcsmDriver::default(),
        }
    }
}

impl PowerHub {
    /// Uses `virsh` (its SSH key, its timeouts) for power actions and probes.
    pub fn with_virsh(mut self, virsh: VirshDriver) -> Self {
        self.drivers.insert(std::sync::Arc::new(virsh.clone()));
        self.virsh = virsh;
        self
    }

    /// Uses `ucsm` (its timeouts) for power actions and probes.
    pub fn with_ucsm(mut self, ucsm: UcsmDriver) -> Self {
        self.drivers.insert(std::sync::Arc::new(ucsm.clone()));
        self.ucsm = ucsm;
        self
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

    #[test]
    fn types_without_a_driver_are_refused_naming_the_supported_ones() {
        for t in WITHOUT_DRIVER {
            let Error::Validation(f) = validate(t, p(&[]), true).unwrap_err() else { panic!() };
            let m = &f["power_type"][0];
            assert!(m.contains("ipmi, manual, redfish, ucsm, virsh, virtual, webhook"), "{m}");
        }
        // Every supported type has a driver in the standard set.
        let drivers = Drivers::standard(VirtualBmcs::new());
        for t in POWER_TYPES {
            assert!(drivers.get(t).is_some(), "{t} is listed without a driver");
        }
    }

    #[test]
    fn ucsm_needs_its_uuid_and_url() {
        let Error::Validation(f) = validate("ucsm", p(&[("power_user", "admin")]), false).unwrap_err() else {
            panic!()
        };
        assert!(f.contains_key("power_parameters_uuid"));
        assert!(f.contains_key("power_parameters_power_address"));
        let ok = p(&[("uuid", "u-1"), ("power_address", "https://ucs/"), ("power_user", "a"), ("power_pass", "b")]);
        assert_eq!(validate("ucsm", ok.clone(), false).unwrap(), ok);
    }

    #[test]
    fn webhook_gets_maas_defaults_and_needs_its_three_uris() {
        let Error::Validation(f) = validate("webhook", p(&[("power_on_uri", "http://x/on")]), false).unwrap_err()
        else {
            panic!()
        };
        assert!(f.contains_key("power_parameters_power_off_uri"));
        assert!(f.contains_key("power_parameters_power_query_uri"));
        let ok = validate(
            "webhook",
            p(&[("power_on_uri", "http://x/on"), ("power_off_uri", "http://x/off"), ("power_query_uri", "http://x/q")]),
            false,
        )
        .unwrap();
        assert_eq!(ok["power_on_regex"], r"status.*\:.*running");
        assert_eq!(ok["power_verify_ssl"], "n");
    }
}
