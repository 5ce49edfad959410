//! Node devices (MAAS's `NodeDeviceHandler` fields). MAAS nests the full
//! block device or interface a device backs; Ironpool gives each as its
//! id, name (and MAC) and resource_uri, which is what a client follows.

use serde_json::{json, Value};

use crate::api::views::resource_uri;
use crate::engine::node_devices::{bus_name, DeviceView};
use crate::engine::scripts::hardware_type_name;

pub fn node_device_json(system_id: &str, v: &DeviceView) -> Value {
    let d = &v.device;
    json!({
        "id": d.id,
        "bus": d.bus,
        "bus_name": bus_name(d.bus),
        "hardware_type": d.hardware_type,
        "hardware_type_name": hardware_type_name(d.hardware_type),
        "system_id": system_id,
        "numa_node": d.numa_node,
        "physical_blockdevice": v.blockdevice.as_ref().map(|(id, name)| json!({
            "id": id,
            "name": name,
            "resource_uri": resource_uri(&format!("nodes/{system_id}/blockdevices/{id}/")),
        })),
        "physical_interface": v.interface.as_ref().map(|(id, name, mac)| json!({
            "id": id,
            "name": name,
            "mac_address": mac,
            "resource_uri": resource_uri(&format!("nodes/{system_id}/interfaces/{id}/")),
        })),
        "vendor_id": d.vendor_id,
        "product_id": d.product_id,
        "vendor_name": d.vendor_name,
        "product_name": d.product_name,
        "commissioning_driver": d.commissioning_driver,
        "bus_number": d.bus_number,
        "device_number": d.device_number,
        "pci_address": d.pci_address,
        "resource_uri": resource_uri(&format!("nodes/{system_id}/devices/{}/", d.id)),
    })
}
