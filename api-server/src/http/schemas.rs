//! Typed response schemas for the OpenAPI document: the objects MAAS
//! clients bind field by field (machines, devices, the network model,
//! users, keys, zones, pools, tags, boot resources, version).
//!
//! Written as tables of `(field, type)` in a small notation rather than
//! derived from the renderers, because most renderers build JSON trees for
//! speed and MAAS's exact shape; schemathesis checks every response of the
//! live server against these tables (`compat-tests/python/test_schemathesis.py`),
//! so a renderer and its table cannot drift apart unnoticed.
//!
//! Notation: `string`, `integer`, `number`, `boolean`, `object`, `any`;
//! `?T` also allows null; `[T]` is an array of `T`; `#Name` refers to
//! another schema of this table. A field name ending in `~` is optional.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};

use crate::http::registry::{Action, Handler, Method, Returns};

type Fields = &'static [(&'static str, &'static str)];

const ZONE: Fields = &[("id", "integer"), ("name", "string"), ("description", "string"), ("resource_uri", "string")];

const POOL: Fields = ZONE;

const TAG: Fields = &[
    ("name", "string"),
    ("definition", "string"),
    ("comment", "string"),
    ("kernel_opts", "string"),
    ("resource_uri", "string"),
];

const DOMAIN: Fields = &[
    ("id", "integer"),
    ("name", "string"),
    ("ttl", "?integer"),
    ("authoritative", "boolean"),
    ("resource_record_count", "integer"),
    ("is_default", "boolean"),
    ("resource_uri", "string"),
];

const VLAN: Fields = &[
    ("id", "integer"),
    ("vid", "integer"),
    ("mtu", "integer"),
    ("dhcp_on", "boolean"),
    ("external_dhcp", "?string"),
    ("relay_vlan", "any"),
    ("fabric", "string"),
    ("fabric_id", "integer"),
    ("space", "string"),
    ("primary_rack", "?string"),
    ("secondary_rack", "?string"),
    ("name", "?string"),
    ("resource_uri", "string"),
];

const FABRIC: Fields = &[
    ("id", "integer"),
    ("name", "string"),
    ("description", "string"),
    ("class_type", "?string"),
    ("vlans", "[#Vlan]"),
    ("resource_uri", "string"),
];

const SPACE: Fields = &[
    ("id", "integer"),
    ("name", "string"),
    ("description", "string"),
    ("vlans", "[object]"),
    ("subnets", "[object]"),
    ("resource_uri", "string"),
];

const SUBNET: Fields = &[
    ("id", "integer"),
    ("name", "string"),
    ("description", "string"),
    ("vlan", "#Vlan"),
    ("cidr", "string"),
    ("rdns_mode", "integer"),
    ("gateway_ip", "?string"),
    ("dns_servers", "[string]"),
    ("allow_dns", "boolean"),
    ("allow_proxy", "boolean"),
    ("active_discovery", "boolean"),
    ("managed", "boolean"),
    ("disabled_boot_architectures", "[string]"),
    ("space", "string"),
    ("resource_uri", "string"),
];

const IPRANGE: Fields = &[
    ("id", "integer"),
    ("type", "string"),
    ("start_ip", "string"),
    ("end_ip", "string"),
    ("comment", "string"),
    ("user", "?#User"),
    ("subnet", "#Subnet"),
    ("resource_uri", "string"),
];

const USER: Fields = &[
    ("username", "string"),
    ("email", "string"),
    ("is_local", "boolean"),
    ("is_superuser", "boolean"),
    ("resource_uri", "string"),
];

const SSHKEY: Fields = &[("id", "integer"), ("key", "string"), ("keysource", "string"), ("resource_uri", "string")];

const INTERFACE: Fields = &[
    ("system_id", "string"),
    ("id", "integer"),
    ("name", "string"),
    ("type", "string"),
    ("vlan", "?object"),
    ("mac_address", "?string"),
    ("parents", "[string]"),
    ("children", "[string]"),
    ("tags", "[string]"),
    ("enabled", "boolean"),
    ("links", "[object]"),
    ("params", "any"),
    ("discovered", "any"),
    ("effective_mtu", "integer"),
    ("vendor", "?string"),
    ("product", "?string"),
    ("firmware_version", "?string"),
    ("link_connected", "boolean"),
    ("interface_speed", "integer"),
    ("link_speed", "integer"),
    ("numa_node", "integer"),
    ("sriov_max_vf", "integer"),
    ("resource_uri", "string"),
];

const BLOCK_DEVICE: Fields = &[
    ("system_id", "string"),
    ("id", "integer"),
    ("name", "string"),
    ("uuid", "?string"),
    ("type", "string"),
    ("path", "string"),
    ("model", "?string"),
    ("serial", "?string"),
    ("id_path", "?string"),
    ("size", "integer"),
    ("block_size", "integer"),
    ("available_size", "integer"),
    ("used_size", "integer"),
    ("used_for", "string"),
    ("tags", "[string]"),
    ("filesystem", "?object"),
    ("partition_table_type", "?string"),
    ("partitions", "[object]"),
    ("firmware_version", "?string"),
    ("storage_pool", "?string"),
    ("numa_node", "?integer"),
    ("resource_uri", "string"),
];

const PARTITION: Fields = &[
    ("system_id", "string"),
    ("device_id", "integer"),
    ("id", "integer"),
    ("uuid", "string"),
    ("path", "string"),
    ("type", "string"),
    ("size", "integer"),
    ("bootable", "boolean"),
    ("tags", "[string]"),
    ("used_for", "string"),
    ("filesystem", "?object"),
    ("resource_uri", "string"),
];

const VOLUME_GROUP: Fields = &[
    ("system_id", "string"),
    ("id", "integer"),
    ("name", "string"),
    ("uuid", "string"),
    ("devices", "[object]"),
    ("size", "integer"),
    ("human_size", "string"),
    ("available_size", "integer"),
    ("human_available_size", "string"),
    ("used_size", "integer"),
    ("human_used_size", "string"),
    ("logical_volumes", "[#BlockDevice]"),
    ("resource_uri", "string"),
];

const RAID: Fields = &[
    ("system_id", "string"),
    ("id", "integer"),
    ("name", "string"),
    ("uuid", "string"),
    ("level", "string"),
    ("devices", "[object]"),
    ("spare_devices", "[object]"),
    ("size", "integer"),
    ("human_size", "string"),
    ("virtual_device", "?#BlockDevice"),
    ("resource_uri", "string"),
];

const CACHE_SET: Fields = &[
    ("system_id", "string"),
    ("id", "integer"),
    ("name", "string"),
    ("cache_device", "?object"),
    ("resource_uri", "string"),
];

const BCACHE: Fields = &[
    ("system_id", "string"),
    ("id", "integer"),
    ("name", "string"),
    ("uuid", "string"),
    ("cache_set", "?#CacheSet"),
    ("backing_device", "?object"),
    ("cache_mode", "?string"),
    ("size", "integer"),
    ("human_size", "string"),
    ("virtual_device", "?#BlockDevice"),
    ("resource_uri", "string"),
];

const FILE: Fields =
    &[("filename", "string"), ("owner", "string"), ("anon_resource_uri", "string"), ("resource_uri", "string")];

const DNS_RECORD: Fields = &[
    ("id", "integer"),
    ("fqdn", "string"),
    ("ttl", "?integer"),
    ("rrtype", "string"),
    ("rrdata", "string"),
    ("resource_uri", "string"),
];

const SSLKEY: Fields = &[("id", "integer"), ("key", "string"), ("resource_uri", "string")];

const EVENT: Fields = &[
    ("id", "integer"),
    ("username", "string"),
    ("node", "?string"),
    ("hostname", "string"),
    ("level", "string"),
    ("created", "string"),
    ("type", "string"),
    ("description", "string"),
];

/// `events/?op=query`: a page of events, newest first.
const EVENT_PAGE: Fields =
    &[("count", "integer"), ("events", "[#Event]"), ("next_uri", "?string"), ("prev_uri", "?string")];

const MACHINE: Fields = &[
    ("system_id", "string"),
    ("hostname", "string"),
    ("description", "string"),
    ("hardware_uuid", "?string"),
    ("domain", "?#Domain"),
    ("fqdn", "string"),
    ("owner", "?string"),
    ("owner_data", "object"),
    ("workload_annotations", "object"),
    ("locked", "boolean"),
    ("cache_sets", "[object]"),
    ("bcaches", "[object]"),
    ("raids", "[object]"),
    ("volume_groups", "[object]"),
    ("bios_boot_method", "?string"),
    ("boot_interface", "?#Interface"),
    ("architecture", "?string"),
    ("min_hwe_kernel", "?string"),
    ("hwe_kernel", "?string"),
    ("cpu_count", "integer"),
    ("cpu_speed", "integer"),
    ("memory", "integer"),
    ("swap_size", "?integer"),
    ("storage", "number"),
    ("status", "integer"),
    ("status_name", "string"),
    ("status_message", "?string"),
    ("status_action", "string"),
    ("osystem", "string"),
    ("distro_series", "string"),
    ("ephemeral_deploy", "boolean"),
    ("error_description", "string"),
    ("netboot", "boolean"),
    ("power_type", "string"),
    ("power_state", "string"),
    ("tag_names", "[string]"),
    ("address_ttl", "?integer"),
    ("ip_addresses", "[string]"),
    ("interface_set", "[#Interface]"),
    ("zone", "?#Zone"),
    ("pool", "?#ResourcePool"),
    ("disable_ipv4", "boolean"),
    ("boot_disk", "?#BlockDevice"),
    ("blockdevice_set", "[#BlockDevice]"),
    ("physicalblockdevice_set", "[#BlockDevice]"),
    ("virtualblockdevice_set", "[#BlockDevice]"),
    ("special_filesystems", "[any]"),
    ("parent", "?object"),
    ("default_gateways", "object"),
    ("node_type", "integer"),
    ("node_type_name", "string"),
    ("current_commissioning_result_id", "?integer"),
    ("current_testing_result_id", "?integer"),
    ("current_installation_result_id", "?integer"),
    ("commissioning_status", "integer"),
    ("commissioning_status_name", "string"),
    ("testing_status", "integer"),
    ("testing_status_name", "string"),
    ("cpu_test_status", "integer"),
    ("cpu_test_status_name", "string"),
    ("memory_test_status", "integer"),
    ("memory_test_status_name", "string"),
    ("network_test_status", "integer"),
    ("network_test_status_name", "string"),
    ("storage_test_status", "integer"),
    ("storage_test_status_name", "string"),
    ("other_test_status", "integer"),
    ("other_test_status_name", "string"),
    ("interface_test_status", "integer"),
    ("interface_test_status_name", "string"),
    ("hardware_info", "object"),
    ("numanode_set", "[#NumaNode]"),
    ("last_sync", "any"),
    ("next_sync", "any"),
    ("sync_interval", "any"),
    ("enable_hw_sync", "boolean"),
    ("enable_kernel_crash_dump", "boolean"),
    ("pod", "any"),
    ("virtualmachine_id", "any"),
    ("resource_uri", "string"),
];

const DEVICE: Fields = &[
    ("system_id", "string"),
    ("hostname", "string"),
    ("description", "string"),
    ("domain", "?#Domain"),
    ("fqdn", "string"),
    ("owner", "?string"),
    ("owner_data", "object"),
    ("workload_annotations", "object"),
    ("tag_names", "[string]"),
    ("address_ttl", "?integer"),
    ("ip_addresses", "[string]"),
    ("interface_set", "[#Interface]"),
    ("zone", "?#Zone"),
    ("node_type", "integer"),
    ("node_type_name", "string"),
    ("parent", "?string"),
    ("resource_uri", "string"),
];

const BOOT_RESOURCE: Fields = &[
    ("id", "integer"),
    ("type", "string"),
    ("name", "string"),
    ("architecture", "string"),
    ("subarches~", "string"),
    ("title~", "string"),
    ("last_deployed~", "?string"),
    ("sets~", "object"),
    ("resource_uri", "string"),
];

const STATIC_ROUTE: Fields = &[
    ("id", "integer"),
    ("source", "?#Subnet"),
    ("destination", "?#Subnet"),
    ("gateway_ip", "string"),
    ("metric", "integer"),
    ("resource_uri", "string"),
];

const NOTIFICATION: Fields = &[
    ("id", "integer"),
    ("ident", "?string"),
    ("user", "?#User"),
    ("users", "boolean"),
    ("admins", "boolean"),
    ("message", "string"),
    ("context", "object"),
    ("category", "string"),
    ("dismissable", "boolean"),
    ("resource_uri", "string"),
];

const BOOT_SOURCE: Fields = &[
    ("id", "integer"),
    ("url", "string"),
    ("keyring_filename", "string"),
    ("keyring_data", "string"),
    ("skip_keyring_verification", "boolean"),
    ("created", "string"),
    ("updated", "string"),
    ("resource_uri", "string"),
];

const BOOT_SOURCE_SELECTION: Fields = &[
    ("id", "integer"),
    ("boot_source_id", "integer"),
    ("os", "string"),
    ("release", "string"),
    ("arches", "[string]"),
    ("subarches", "[string]"),
    ("labels", "[string]"),
    ("resource_uri", "string"),
];

const DNS_RESOURCE: Fields = &[
    ("id", "integer"),
    ("fqdn", "string"),
    ("address_ttl", "?integer"),
    ("ip_addresses", "[object]"),
    ("resource_records", "[object]"),
    ("resource_uri", "string"),
];

const DHCP_SNIPPET: Fields = &[
    ("id", "integer"),
    ("name", "string"),
    ("value", "string"),
    ("history", "[object]"),
    ("description", "string"),
    ("enabled", "boolean"),
    ("node", "?object"),
    ("subnet", "?#Subnet"),
    ("iprange", "?#IPRange"),
    ("global_snippet", "boolean"),
    ("unapplied", "[string]"),
    ("resource_uri", "string"),
];

const VM_HOST: Fields = &[
    ("id", "integer"),
    ("name", "string"),
    ("tags", "[string]"),
    ("type", "string"),
    ("architectures", "[string]"),
    ("capabilities", "[string]"),
    ("total", "object"),
    ("used", "object"),
    ("available", "object"),
    ("zone", "#Zone"),
    ("cpu_over_commit_ratio", "number"),
    ("memory_over_commit_ratio", "number"),
    ("storage_pools", "[object]"),
    ("pool", "#ResourcePool"),
    ("host", "object"),
    ("default_macvlan_mode", "any"),
    ("version", "string"),
    ("resource_uri", "string"),
];

const NUMA_NODE: Fields =
    &[("index", "integer"), ("cores", "[integer]"), ("memory", "integer"), ("hugepages_set", "[object]")];

const NODE_DEVICE: Fields = &[
    ("id", "integer"),
    ("bus", "integer"),
    ("bus_name", "string"),
    ("hardware_type", "integer"),
    ("hardware_type_name", "string"),
    ("system_id", "string"),
    ("numa_node", "integer"),
    ("physical_blockdevice", "?object"),
    ("physical_interface", "?object"),
    ("vendor_id", "string"),
    ("product_id", "string"),
    ("vendor_name", "string"),
    ("product_name", "string"),
    ("commissioning_driver", "string"),
    ("bus_number", "integer"),
    ("device_number", "integer"),
    ("pci_address", "?string"),
    ("resource_uri", "string"),
];

const VERSION: Fields = &[("capabilities", "[string]"), ("version", "string"), ("subversion", "string")];

/// Every schema, by component name.
const ALL: &[(&str, Fields)] = &[
    ("Zone", ZONE),
    ("ResourcePool", POOL),
    ("Tag", TAG),
    ("Domain", DOMAIN),
    ("Vlan", VLAN),
    ("Fabric", FABRIC),
    ("Space", SPACE),
    ("Subnet", SUBNET),
    ("IPRange", IPRANGE),
    ("User", USER),
    ("SSHKey", SSHKEY),
    ("Interface", INTERFACE),
    ("BlockDevice", BLOCK_DEVICE),
    ("Partition", PARTITION),
    ("VolumeGroup", VOLUME_GROUP),
    ("Raid", RAID),
    ("CacheSet", CACHE_SET),
    ("Bcache", BCACHE),
    ("File", FILE),
    ("DNSResourceRecord", DNS_RECORD),
    ("SSLKey", SSLKEY),
    ("Event", EVENT),
    ("EventPage", EVENT_PAGE),
    ("Machine", MACHINE),
    ("Device", DEVICE),
    ("BootResource", BOOT_RESOURCE),
    ("StaticRoute", STATIC_ROUTE),
    ("Notification", NOTIFICATION),
    ("BootSource", BOOT_SOURCE),
    ("BootSourceSelection", BOOT_SOURCE_SELECTION),
    ("DNSResource", DNS_RESOURCE),
    ("DHCPSnippet", DHCP_SNIPPET),
    ("VmHost", VM_HOST),
    ("NumaNode", NUMA_NODE),
    ("NodeDevice", NODE_DEVICE),
    ("Version", VERSION),
];

/// The resource each handler's CRUD actions render.
const HANDLERS: &[(&str, &str)] = &[
    ("ZonesHandler", "Zone"),
    ("ZoneHandler", "Zone"),
    ("ResourcePoolsHandler", "ResourcePool"),
    ("ResourcePoolHandler", "ResourcePool"),
    ("TagsHandler", "Tag"),
    ("TagHandler", "Tag"),
    ("DomainsHandler", "Domain"),
    ("DomainHandler", "Domain"),
    ("FabricsHandler", "Fabric"),
    ("FabricHandler", "Fabric"),
    ("VlansHandler", "Vlan"),
    ("VlanHandler", "Vlan"),
    ("VlanByIdHandler", "Vlan"),
    ("SpacesHandler", "Space"),
    ("SpaceHandler", "Space"),
    ("SubnetsHandler", "Subnet"),
    ("SubnetHandler", "Subnet"),
    ("IPRangesHandler", "IPRange"),
    ("IPRangeHandler", "IPRange"),
    ("UsersHandler", "User"),
    ("UserHandler", "User"),
    ("SSHKeysHandler", "SSHKey"),
    ("SSHKeyHandler", "SSHKey"),
    ("MachinesHandler", "Machine"),
    ("MachineHandler", "Machine"),
    ("DevicesHandler", "Device"),
    ("DeviceHandler", "Device"),
    ("BootResourcesHandler", "BootResource"),
    ("BootResourceHandler", "BootResource"),
    ("InterfacesHandler", "Interface"),
    ("InterfaceHandler", "Interface"),
    ("BlockDevicesHandler", "BlockDevice"),
    ("BlockDeviceHandler", "BlockDevice"),
    ("StaticRoutesHandler", "StaticRoute"),
    ("StaticRouteHandler", "StaticRoute"),
    ("NotificationsHandler", "Notification"),
    ("NotificationHandler", "Notification"),
    ("BootSourcesHandler", "BootSource"),
    ("BootSourceHandler", "BootSource"),
    ("BootSourceSelectionsHandler", "BootSourceSelection"),
    ("BootSourceSelectionHandler", "BootSourceSelection"),
    ("DNSResourcesHandler", "DNSResource"),
    ("DNSResourceHandler", "DNSResource"),
    ("PartitionsHandler", "Partition"),
    ("PartitionHandler", "Partition"),
    ("VolumeGroupsHandler", "VolumeGroup"),
    ("VolumeGroupHandler", "VolumeGroup"),
    ("EventsHandler", "EventPage"),
    ("RaidsHandler", "Raid"),
    ("RaidHandler", "Raid"),
    ("BcacheCacheSetsHandler", "CacheSet"),
    ("BcacheCacheSetHandler", "CacheSet"),
    ("BcachesHandler", "Bcache"),
    ("BcacheHandler", "Bcache"),
    ("FilesHandler", "File"),
    ("DNSResourceRecordsHandler", "DNSResourceRecord"),
    ("DNSResourceRecordHandler", "DNSResourceRecord"),
    ("SSLKeysHandler", "SSLKey"),
    ("SSLKeyHandler", "SSLKey"),
    ("DHCPSnippetsHandler", "DHCPSnippet"),
    ("DHCPSnippetHandler", "DHCPSnippet"),
    ("VmHostsHandler", "VmHost"),
    ("VmHostHandler", "VmHost"),
    ("PodsHandler", "VmHost"),
    ("PodHandler", "VmHost"),
    ("NodeDevicesHandler", "NodeDevice"),
    ("NodeDeviceHandler", "NodeDevice"),
    ("VersionHandler", "Version"),
];

/// Named operations that answer with the handler's resource.
const RESOURCE_OPS: &[(&str, &str)] = &[
    ("MachinesHandler", "allocate"),
    ("MachineHandler", "deploy"),
    ("MachineHandler", "release"),
    ("MachineHandler", "commission"),
    ("MachineHandler", "abort"),
    ("MachineHandler", "lock"),
    ("MachineHandler", "unlock"),
    ("MachineHandler", "mark_broken"),
    ("MachineHandler", "mark_fixed"),
    ("MachineHandler", "mount_special"),
    ("MachineHandler", "unmount_special"),
    ("DeviceHandler", "set_owner_data"),
    ("DeviceHandler", "set_workload_annotations"),
    ("DeviceHandler", "restore_default_configuration"),
    ("DeviceHandler", "restore_networking_configuration"),
    ("DHCPSnippetHandler", "revert"),
    ("VmHostHandler", "refresh"),
    ("VmHostHandler", "add_tag"),
    ("VmHostHandler", "remove_tag"),
    ("PodHandler", "refresh"),
    ("PodHandler", "add_tag"),
    ("PodHandler", "remove_tag"),
    ("UsersHandler", "whoami"),
    ("EventsHandler", "query"),
];

/// The component a response of `a` on `h` is described by, if any.
pub fn for_action(h: &Handler, a: &Action) -> Option<&'static str> {
    let name = HANDLERS.iter().find(|(n, _)| *n == h.name).map(|(_, s)| *s)?;
    let crud = a.op.is_none() && a.method != Method::Delete;
    let op = a.op.is_some_and(|op| RESOURCE_OPS.contains(&(h.name, op)));
    let shaped = matches!(h.returns(a), Returns::Object | Returns::ObjectStatus(_) | Returns::List);
    ((crud || op) && shaped).then_some(name)
}

fn scalar(t: &str) -> Type {
    match t {
        "string" => Type::String,
        "integer" => Type::Integer,
        "number" => Type::Number,
        "boolean" => Type::Boolean,
        "object" => Type::Object,
        other => panic!("unknown type {other} in a schema table"),
    }
}

fn type_of(t: &str) -> RefOr<Schema> {
    if let Some(inner) = t.strip_prefix('?') {
        if let Some(name) = inner.strip_prefix('#') {
            return OneOfBuilder::new()
                .item(Ref::from_schema_name(name))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .into();
        }
        return ObjectBuilder::new().schema_type(SchemaType::from_iter([scalar(inner), Type::Null])).into();
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return ArrayBuilder::new().items(type_of(inner)).into();
    }
    if let Some(name) = t.strip_prefix('#') {
        return Ref::from_schema_name(name).into();
    }
    match t {
        "any" => ObjectBuilder::new().schema_type(SchemaType::AnyValue).into(),
        scalar_name => ObjectBuilder::new().schema_type(scalar(scalar_name)).into(),
    }
}

fn object(fields: Fields) -> Schema {
    let mut o = ObjectBuilder::new().schema_type(Type::Object);
    for (name, t) in fields {
        let (name, optional) = match name.strip_suffix('~') {
            Some(n) => (n, true),
            None => (*name, false),
        };
        o = o.property(name, type_of(t));
        if !optional {
            o = o.required(name);
        }
    }
    o.build().into()
}

/// `(name, schema)` for the document's components.
pub fn components() -> Vec<(&'static str, RefOr<Schema>)> {
    ALL.iter().map(|(name, fields)| (*name, RefOr::T(object(fields)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn js(t: &str) -> serde_json::Value {
        serde_json::to_value(type_of(t)).unwrap()
    }

    #[test]
    fn notation() {
        assert_eq!(js("?string"), json!({"type": ["string", "null"]}));
        assert_eq!(js("[#Vlan]"), json!({"type": "array", "items": {"$ref": "#/components/schemas/Vlan"}}));
        assert_eq!(js("?#Zone"), json!({"oneOf": [{"$ref": "#/components/schemas/Zone"}, {"type": "null"}]}));
        assert_eq!(js("any"), json!({}));
        // Every reference names a schema of the table.
        for (_, fields) in ALL {
            for (_, t) in *fields {
                if let Some(r) = t.trim_start_matches(['?', '[']).trim_end_matches(']').strip_prefix('#') {
                    assert!(ALL.iter().any(|(n, _)| *n == r), "unknown schema {r}");
                }
            }
        }
        assert_eq!(components().len(), ALL.len());
    }
}
