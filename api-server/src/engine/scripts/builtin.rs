//! The scripts Ironpool ships (MAAS's built-in scripts, `default=true`),
//! each a real shell script with MAAS's embedded metadata header. Their
//! names are MAAS's where MAAS has the script; what each does is written in
//! the script. They are seeded at start by [`super::seed_builtins`].

/// (name, text) of every built-in script, in name order.
pub const BUILTIN: &[(&str, &str)] = &[
    ("20-maas-02-dhcp-unconfigured-ifaces", include_str!("builtin/20-maas-02-dhcp-unconfigured-ifaces")),
    ("30-maas-01-bmc-config", include_str!("builtin/30-maas-01-bmc-config")),
    ("50-maas-01-commissioning", include_str!("builtin/50-maas-01-commissioning")),
    ("internet-connectivity", include_str!("builtin/internet-connectivity")),
    ("maas-kernel-cmdline", include_str!("builtin/maas-kernel-cmdline")),
    ("maas-list-modaliases", include_str!("builtin/maas-list-modaliases")),
    ("maas-lshw", include_str!("builtin/maas-lshw")),
    ("maas-serial-ports", include_str!("builtin/maas-serial-ports")),
    ("memtester", include_str!("builtin/memtester")),
    ("smartctl-validate", include_str!("builtin/smartctl-validate")),
    ("storage-read", include_str!("builtin/storage-read")),
];
