//! `rackcontrollers/?op=describe_power_types`: MAAS's driver schema (one
//! object per power type with its settable fields), rendered from
//! `engine::power::describe`.

use serde_json::{json, Value};

use crate::engine::power::PowerTypeInfo;

/// MAAS's human descriptions of the drivers it ships (`description`);
/// others are shown by name.
fn description(name: &str) -> &str {
    match name {
        "amt" => "Intel AMT",
        "apc" => "American Power Conversion (APC) PDU",
        "dli" => "Digital Loggers, Inc. PDU",
        "eaton" => "Eaton PDU",
        "hmc" => "IBM Hardware Management Console (HMC) for PowerPC",
        "hmcz" => "IBM Hardware Management Console (HMC) for Z",
        "ipmi" => "IPMI",
        "lxd" => "LXD (virtual systems)",
        "manual" => "Manual",
        "moonshot" => "HP Moonshot - iLO4 (IPMI)",
        "mscm" => "HP Moonshot - iLO Chassis Manager",
        "msftocs" => "Microsoft OCS - Chassis Manager",
        "nova" => "OpenStack Nova",
        "openbmc" => "OpenBMC Power Driver",
        "proxmox" => "Proxmox",
        "raritan" => "Raritan PDU",
        "recs_box" => "Christmann RECS|Box Power Driver",
        "redfish" => "Redfish",
        "sm15k" => "SeaMicro 15000",
        "ucsm" => "Cisco UCS Manager",
        "virsh" => "Virsh (virtual systems)",
        "virtual" => "Ironpool simulated BMC",
        "vmware" => "VMware",
        "webhook" => "Webhook",
        "wedge" => "Facebook's Wedge",
        other => other,
    }
}

/// A parameter name as a label (`power_address` → `Power address`).
fn label(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn power_types(types: &[PowerTypeInfo]) -> Value {
    Value::Array(
        types
            .iter()
            .map(|t| {
                let fields: Vec<Value> = t
                    .fields
                    .iter()
                    .map(|f| {
                        let field_type = if f.secret {
                            "password"
                        } else if !f.choices.is_empty() {
                            "choice"
                        } else if f.name == "mac_address" {
                            "mac_address"
                        } else {
                            "string"
                        };
                        json!({
                            "name": f.name,
                            "label": label(f.name),
                            "required": f.required,
                            "field_type": field_type,
                            "choices": f.choices.iter().map(|c| json!([c, c])).collect::<Vec<_>>(),
                            "default": f.default.unwrap_or(""),
                            "scope": if f.name == "power_address" { "bmc" } else { "node" },
                            "secret": f.secret,
                        })
                    })
                    .collect();
                json!({
                    "driver_type": "power",
                    "name": t.name,
                    "description": description(t.name),
                    // As MAAS's drivers declare them (add_chassis probes
                    // only those that can_probe).
                    "chassis": t.chassis,
                    "can_probe": t.can_probe,
                    "can_set_boot_order": false,
                    "queryable": t.name != "manual",
                    "missing_packages": [],
                    "fields": fields,
                })
            })
            .collect(),
    )
}
