//! MAAS configuration (`maas/?op=get_config|set_config`): the names clients
//! read, their types, defaults and validation.
//!
//! Values are stored JSON-encoded; an unset name reads as its default, so a
//! fresh region answers every name MAAS 3.6 knows.

use serde_json::{json, Value};

use crate::db;
use crate::db::{Datastore, DbConn};
use crate::engine;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Choice(&'static [&'static str]),
    /// An `http(s)://` URL, or empty.
    Url,
    /// Space- or comma-separated host names or addresses.
    Hosts,
}

#[derive(Debug, Clone, Copy)]
struct Def {
    name: &'static str,
    kind: Kind,
    /// Shown only to administrators.
    secret: bool,
}

const fn d(name: &'static str, kind: Kind) -> Def {
    Def { name, kind, secret: false }
}

const INT_POS: Kind = Kind::Int { min: 1, max: i32::MAX as i64 };
const PORT: Kind = Kind::Int { min: 1, max: 65535 };

const DEFS: &[Def] = &[
    d("maas_name", Kind::Str),
    d("maas_url", Kind::Url),
    d("theme", Kind::Str),
    d("default_osystem", Kind::Str),
    d("default_distro_series", Kind::Str),
    d("default_min_hwe_kernel", Kind::Str),
    d("commissioning_distro_series", Kind::Str),
    d("default_storage_layout", Kind::Choice(&["flat", "lvm", "bcache", "blank", "custom", "vmfs6", "vmfs7"])),
    d("enable_disk_erasing_on_release", Kind::Bool),
    d("disk_erase_with_secure_erase", Kind::Bool),
    d("disk_erase_with_quick_erase", Kind::Bool),
    d("enable_third_party_drivers", Kind::Bool),
    d("kernel_opts", Kind::Str),
    d("upstream_dns", Kind::Hosts),
    d("dnssec_validation", Kind::Choice(&["auto", "yes", "no"])),
    d("default_dns_ttl", INT_POS),
    d("maas_internal_domain", Kind::Str),
    d("dns_trusted_acl", Kind::Str),
    d("ntp_servers", Kind::Hosts),
    d("ntp_external_only", Kind::Bool),
    d("http_proxy", Kind::Url),
    d("enable_http_proxy", Kind::Bool),
    d("use_peer_proxy", Kind::Bool),
    d("maas_proxy_port", PORT),
    d("use_rack_proxy", Kind::Bool),
    d("remote_syslog", Kind::Str),
    d("maas_syslog_port", PORT),
    d("network_discovery", Kind::Choice(&["enabled", "disabled"])),
    d("active_discovery_interval", Kind::Int { min: 0, max: i32::MAX as i64 }),
    d("default_boot_interface_link_type", Kind::Choice(&["auto", "dhcp", "static", "link_up"])),
    d("boot_images_auto_import", Kind::Bool),
    d("boot_images_no_proxy", Kind::Bool),
    d("curtin_verbose", Kind::Bool),
    d("enable_analytics", Kind::Bool),
    d("completed_intro", Kind::Bool),
    d("max_node_commissioning_results", INT_POS),
    d("max_node_testing_results", INT_POS),
    d("max_node_installation_results", INT_POS),
    d("max_node_release_results", INT_POS),
    d("subnet_ip_exhaustion_threshold_count", Kind::Int { min: 0, max: i32::MAX as i64 }),
    d("release_notifications", Kind::Bool),
    d("node_timeout", INT_POS),
    // Ironpool: per-phase limits in minutes; 0 uses node_timeout (5 minutes
    // for releasing, as MAAS fixes it).
    d("commissioning_timeout", Kind::Int { min: 0, max: i32::MAX as i64 }),
    d("deploying_timeout", Kind::Int { min: 0, max: i32::MAX as i64 }),
    d("releasing_timeout", Kind::Int { min: 0, max: i32::MAX as i64 }),
    d("prometheus_enabled", Kind::Bool),
    d("prometheus_push_gateway", Kind::Str),
    d("prometheus_push_interval", INT_POS),
    d("promtail_enabled", Kind::Bool),
    d("promtail_port", PORT),
    d("enlist_commissioning", Kind::Bool),
    d("maas_auto_ipmi_user", Kind::Str),
    d("maas_auto_ipmi_user_privilege_level", Kind::Choice(&["ADMIN", "OPERATOR", "USER"])),
    Def { name: "maas_auto_ipmi_k_g_bmc_key", kind: Kind::Str, secret: true },
    d("maas_auto_ipmi_cipher_suite_id", Kind::Choice(&["", "3", "8", "12", "17"])),
    d("maas_auto_ipmi_workaround_flags", Kind::Str),
    d("vcenter_server", Kind::Str),
    d("vcenter_username", Kind::Str),
    Def { name: "vcenter_password", kind: Kind::Str, secret: true },
    d("vcenter_datacenter", Kind::Str),
    d("windows_kms_host", Kind::Str),
    d("hardware_sync_interval", Kind::Str),
    d("tls_cert_expiration_notification_enabled", Kind::Bool),
    d("tls_cert_expiration_notification_interval", Kind::Int { min: 1, max: 90 }),
    d("session_length", Kind::Int { min: 60, max: 31_536_000 }),
    d("auto_vlan_creation", Kind::Bool),
    // Booleans MAAS 3.6 defaults to false (models/config.py); stored and
    // served for clients that read or set them, not acted on yet.
    d("allow_only_trusted_transfers", Kind::Bool),
    d("enable_kernel_crash_dump", Kind::Bool),
    d("force_v1_network_yaml", Kind::Bool),
    d("prefer_v4_proxy", Kind::Bool),
    // Until package repositories exist these two are plain settings.
    d("main_archive", Kind::Url),
    d("ports_archive", Kind::Url),
];

fn default_of(name: &str) -> Value {
    match name {
        "maas_name" => json!(host_name()),
        "maas_url" => json!(format!("http://{}:{}/MAAS", host_name(), ironpool_common::DEFAULT_REGION_PORT)),
        // MAAS's defaults for these are None, which clients read as "unset"
        // (python-libmaas: `get_upstream_dns()` is `[]` only for null).
        "kernel_opts" | "upstream_dns" | "dns_trusted_acl" | "http_proxy" | "remote_syslog" | "windows_kms_host" => {
            Value::Null
        }
        "theme"
        | "default_min_hwe_kernel"
        | "prometheus_push_gateway"
        | "maas_auto_ipmi_k_g_bmc_key"
        | "vcenter_server"
        | "vcenter_username"
        | "vcenter_password"
        | "vcenter_datacenter" => json!(""),
        "default_osystem" => json!("ubuntu"),
        "default_distro_series" | "commissioning_distro_series" => json!("noble"),
        "default_storage_layout" => json!("flat"),
        "dnssec_validation" => json!("auto"),
        "default_dns_ttl" | "node_timeout" | "tls_cert_expiration_notification_interval" => json!(30),
        "maas_internal_domain" => json!("maas-internal"),
        "ntp_servers" => json!("ntp.ubuntu.com"),
        "maas_proxy_port" => json!(8000),
        "maas_syslog_port" => json!(5247),
        "network_discovery" => json!("enabled"),
        "active_discovery_interval" => json!(10800),
        "default_boot_interface_link_type" => json!("auto"),
        "max_node_commissioning_results"
        | "max_node_testing_results"
        | "max_node_installation_results"
        | "max_node_release_results" => json!(10),
        "subnet_ip_exhaustion_threshold_count" => json!(16),
        "commissioning_timeout" | "deploying_timeout" | "releasing_timeout" => json!(0),
        "prometheus_push_interval" => json!(60),
        "promtail_port" => json!(5238),
        "maas_auto_ipmi_user" => json!("maas"),
        "maas_auto_ipmi_user_privilege_level" => json!("ADMIN"),
        "maas_auto_ipmi_cipher_suite_id" => json!("3"),
        "maas_auto_ipmi_workaround_flags" => json!("opensesspriv"),
        "hardware_sync_interval" => json!("15m"),
        "session_length" => json!(1_209_600),
        "main_archive" => json!("http://archive.ubuntu.com/ubuntu"),
        "ports_archive" => json!("http://ports.ubuntu.com/ubuntu-ports"),
        "enable_third_party_drivers"
        | "enable_http_proxy"
        | "use_rack_proxy"
        | "boot_images_auto_import"
        | "curtin_verbose"
        | "enable_analytics"
        | "release_notifications"
        | "enlist_commissioning"
        | "auto_vlan_creation" => json!(true),
        // Every remaining boolean defaults to false.
        _ => json!(false),
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "ironpool".to_string())
}

/// Legacy names clients still send.
fn canonical(name: &str) -> &str {
    match name {
        "ntp_server" => "ntp_servers",
        other => other,
    }
}

fn def(name: &str) -> Result<&'static Def> {
    let name = canonical(name);
    DEFS.iter().find(|d| d.name == name).ok_or_else(|| {
        Error::field("name", format!("'{name}' is not a valid config name; see MAAS's configuration names."))
    })
}

/// The names this region knows (for documentation and tests).
pub fn names() -> impl Iterator<Item = &'static str> {
    DEFS.iter().map(|d| d.name)
}

fn validate(def: &Def, raw: &str) -> Result<Value> {
    let bad = |why: String| Error::field("value", why);
    let v = raw.trim();
    Ok(match def.kind {
        Kind::Str => json!(raw),
        Kind::Bool => {
            json!(engine::parse_bool(v).ok_or_else(|| bad(format!("'{raw}' is not a boolean; use true or false.")))?)
        }
        Kind::Int { min, max } => {
            let n: i64 = v.parse().map_err(|_| bad(format!("'{raw}' is not a whole number.")))?;
            if n < min || n > max {
                return Err(bad(format!("{n} is out of range: {} must be between {min} and {max}.", def.name)));
            }
            json!(n)
        }
        Kind::Choice(choices) => {
            if !choices.contains(&v) {
                return Err(bad(format!(
                    "Select a valid choice. {v} is not one of the available choices: {}.",
                    choices.join(", ")
                )));
            }
            json!(v)
        }
        Kind::Url => {
            if !v.is_empty() {
                let u = url::Url::parse(v).map_err(|e| bad(format!("'{v}' is not a valid URL: {e}.")))?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err(bad(format!("'{v}' must be an http:// or https:// URL.")));
                }
            }
            json!(v)
        }
        Kind::Hosts => {
            for h in v.split([' ', ',']).filter(|h| !h.is_empty()) {
                let ok = h.parse::<std::net::IpAddr>().is_ok()
                    || (h.len() <= 253
                        && h.split('.').all(|l| {
                            !l.is_empty()
                                && l.len() <= 63
                                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                                && !l.starts_with('-')
                        }));
                if !ok {
                    return Err(bad(format!("'{h}' is neither an IP address nor a host name.")));
                }
            }
            json!(v)
        }
    })
}

/// Reads one value (its default when unset). Secret values need `is_admin`.
pub async fn get(db: &Datastore, name: &str, is_admin: bool) -> Result<Value> {
    let def = def(name)?;
    if def.secret && !is_admin {
        return Err(Error::Forbidden(format!("Only administrators may read '{}'.", def.name)));
    }
    db.run(move |c| value_in(c, def.name)).await
}

/// One value inside the caller's transaction (its default when unset), for
/// engine code that acts on a setting; secrets included, so what it reads
/// must not be rendered to non-administrators.
pub fn value_in(c: &mut DbConn, name: &str) -> Result<Value> {
    let def = def(name)?;
    Ok(match db::config::get(c, def.name)? {
        Some(s) => {
            serde_json::from_str(&s).map_err(|e| Error::Internal(format!("corrupt config {}: {e}", def.name)))?
        }
        None => default_of(def.name),
    })
}

/// Validates one value without storing it, with [`set`]'s words (a form
/// that sets several values checks them all before storing any).
pub fn check(name: &str, raw: &str) -> Result<()> {
    validate(def(name)?, raw).map(|_| ())
}

/// Validates and stores one value.
pub async fn set(db: &Datastore, name: &str, raw: &str) -> Result<()> {
    let def = def(name)?;
    let value = validate(def, raw)?.to_string();
    db.write(move |c| db::config::set(c, def.name, &value)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_a_typed_default() {
        for d in DEFS {
            let v = default_of(d.name);
            let ok = match d.kind {
                Kind::Bool => v.is_boolean(),
                Kind::Int { min, max } => v.as_i64().is_some_and(|n| n >= min && n <= max),
                Kind::Choice(c) => c.contains(&v.as_str().unwrap_or("?")),
                _ => v.is_string() || v.is_null(),
            };
            assert!(ok, "{} default {v}", d.name);
        }
    }

    #[test]
    fn validation() {
        let ttl = def("default_dns_ttl").unwrap();
        assert_eq!(validate(ttl, "60").unwrap(), json!(60));
        assert!(validate(ttl, "0").is_err());
        assert!(validate(ttl, "x").is_err());
        assert_eq!(validate(def("enable_analytics").unwrap(), "False").unwrap(), json!(false));
        assert!(validate(def("ntp_servers").unwrap(), "ntp.example.com 10.0.0.1").is_ok());
        assert!(validate(def("ntp_servers").unwrap(), "not a host!").is_err());
        assert!(validate(def("maas_url").unwrap(), "ftp://x").is_err());
        assert_eq!(def("ntp_server").unwrap().name, "ntp_servers");
        assert!(def("no_such_name").is_err());
    }
}
