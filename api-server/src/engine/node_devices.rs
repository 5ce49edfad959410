//! What commissioning found beyond the model's CPUs, memory, disks and NICs:
//! the NUMA nodes (`numanode_set`) and the PCI and USB devices (MAAS's
//! NodeDevice, `nodes/{id}/devices/`), recorded from the inventory and read
//! with MAAS's filters and id forms.

use ironpool_common::inventory::{Inventory, PciDevice};
use serde_json::{json, Value};

use crate::db::node_devices::{NewNodeDevice, NodeDevice};
use crate::db::nodes::Node;
use crate::db::{self, DbConn};
use crate::engine::scripts::{hardware_type, translate_hardware_type};
use crate::error::{Error, Result};

/// MAAS's NODE_DEVICE_BUS.
pub mod bus {
    pub const PCIE: i32 = 1;
    pub const USB: i32 = 2;
}

pub fn bus_name(b: i32) -> &'static str {
    if b == bus::USB {
        "USB"
    } else {
        "PCIE"
    }
}

/// MAAS's `translate_bus`: a bus number or name, with its messages.
pub fn parse_bus(s: &str) -> Result<i32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i32>() {
            Ok(b) if b == bus::PCIE || b == bus::USB => Ok(b),
            _ => Err(Error::BadRequest("Invalid bus numeric value!".into())),
        };
    }
    match s {
        "PCIE" | "pcie" => Ok(bus::PCIE),
        "USB" | "usb" => Ok(bus::USB),
        _ => Err(Error::BadRequest("Bus must be PCIE or USB!".into())),
    }
}

/// The bus and slot of a PCI address (`dddd:bb:ss.f`), in MAAS's
/// bus_number / device_number.
fn pci_bus_slot(address: &str) -> (i32, i32) {
    let mut parts = address.split([':', '.']).skip(1);
    let mut hex = || parts.next().and_then(|p| i32::from_str_radix(p, 16).ok()).unwrap_or(0);
    (hex(), hex())
}

/// What a PCI function is, by the class code where no disk or NIC named it.
fn pci_hardware_type(d: &PciDevice) -> i32 {
    let class = d.class.trim_start_matches("0x");
    match class.get(..2) {
        Some("01") => hardware_type::STORAGE,
        Some("02") => hardware_type::NETWORK,
        Some("03") => hardware_type::GPU,
        _ => hardware_type::NODE,
    }
}

/// Records the inventory's NUMA nodes and devices on the node, replacing the
/// last commissioning's. Runs after the disks and interfaces are recorded, so
/// a device links to the block device or interface it backs.
pub fn record(c: &mut DbConn, n: &Node, inv: &Inventory) -> Result<()> {
    let numa: Vec<Value> = inv
        .resources
        .memory
        .nodes
        .iter()
        .map(|m| {
            json!({
                "index": m.numa_node,
                "cores": m.cpus,
                "memory": m.total / (1024 * 1024),
                "hugepages_set": [],
            })
        })
        .collect();
    db::nodes::set_numa(c, n.id, &Value::Array(numa).to_string())?;

    let storage = db::storage::load_node(c, n.id)?;
    let ifaces = db::network::interfaces_of(c, n.id)?;
    let numa_of = |x: u32| i32::try_from(x).unwrap_or(0);
    let mut rows = Vec::new();
    for d in &inv.resources.pci.devices {
        let disk =
            inv.resources.storage.disks.iter().find(|k| !k.pci_address.is_empty() && k.pci_address == d.pci_address);
        let card =
            inv.resources.network.cards.iter().find(|k| !k.pci_address.is_empty() && k.pci_address == d.pci_address);
        let hw = if disk.is_some() {
            hardware_type::STORAGE
        } else if card.is_some() {
            hardware_type::NETWORK
        } else {
            pci_hardware_type(d)
        };
        let blockdevice = disk.and_then(|k| storage.devices.iter().find(|b| b.name == k.id)).map(|b| b.id);
        let interface = card
            .and_then(|k| k.ports.first())
            .and_then(|p| crate::engine::names::normalise_mac(&p.address))
            .and_then(|mac| ifaces.iter().find(|i| i.iftype == "physical" && i.mac_address.as_deref() == Some(&mac)))
            .map(|i| i.id);
        let (bus_number, device_number) = pci_bus_slot(&d.pci_address);
        rows.push(NewNodeDevice {
            node_id: n.id,
            bus: bus::PCIE,
            hardware_type: hw,
            vendor_id: d.vendor_id.clone(),
            product_id: d.product_id.clone(),
            vendor_name: d.vendor.clone(),
            product_name: d.product.clone(),
            commissioning_driver: d.driver.clone(),
            bus_number,
            device_number,
            pci_address: Some(d.pci_address.clone()),
            numa_node: numa_of(d.numa_node),
            physical_blockdevice_id: blockdevice,
            physical_interface_id: interface,
        });
    }
    for u in &inv.resources.usb.devices {
        rows.push(NewNodeDevice {
            node_id: n.id,
            bus: bus::USB,
            hardware_type: hardware_type::NODE,
            vendor_id: u.vendor_id.clone(),
            product_id: u.product_id.clone(),
            vendor_name: u.vendor.clone(),
            product_name: u.product.clone(),
            commissioning_driver: u.driver.clone(),
            bus_number: i32::try_from(u.bus_address).unwrap_or(0),
            device_number: i32::try_from(u.device_address).unwrap_or(0),
            pci_address: None,
            numa_node: 0,
            physical_blockdevice_id: None,
            physical_interface_id: None,
        });
    }
    db::node_devices::replace(c, n.id, &rows)
}

/// `nodes/{id}/devices/`'s filters: each matches its field ignoring case.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub bus: Option<i32>,
    pub hardware_type: Option<i32>,
    pub vendor_id: Option<String>,
    pub product_id: Option<String>,
    pub vendor_name: Option<String>,
    pub product_name: Option<String>,
    pub commissioning_driver: Option<String>,
}

impl DeviceFilter {
    /// Reads the query parameters by name (`get`), with MAAS's messages for
    /// a bad bus or hardware type.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<DeviceFilter> {
        let text = |k: &str| get(k).map(str::to_string);
        Ok(DeviceFilter {
            bus: get("bus").map(parse_bus).transpose()?,
            hardware_type: get("hardware_type").map(translate_hardware_type).transpose().map_err(Error::BadRequest)?,
            vendor_id: text("vendor_id"),
            product_id: text("product_id"),
            vendor_name: text("vendor_name"),
            product_name: text("product_name"),
            commissioning_driver: text("commissioning_driver"),
        })
    }

    fn matches(&self, d: &NodeDevice) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(have));
        self.bus.is_none_or(|b| b == d.bus)
            && self.hardware_type.is_none_or(|h| h == d.hardware_type)
            && eq(&self.vendor_id, &d.vendor_id)
            && eq(&self.product_id, &d.product_id)
            && eq(&self.vendor_name, &d.vendor_name)
            && eq(&self.product_name, &d.product_name)
            && eq(&self.commissioning_driver, &d.commissioning_driver)
    }
}

/// A device with the names of what it backs, for rendering.
#[derive(Debug, Clone)]
pub struct DeviceView {
    pub device: NodeDevice,
    pub blockdevice: Option<(i64, String)>,
    pub interface: Option<(i64, String, Option<String>)>,
}

fn views(c: &mut DbConn, n: &Node, devices: Vec<NodeDevice>) -> Result<Vec<DeviceView>> {
    let storage = db::storage::load_node(c, n.id)?;
    let ifaces = db::network::interfaces_of(c, n.id)?;
    Ok(devices
        .into_iter()
        .map(|d| DeviceView {
            blockdevice: d
                .physical_blockdevice_id
                .and_then(|id| storage.devices.iter().find(|b| b.id == id))
                .map(|b| (b.id, b.name.clone())),
            interface: d
                .physical_interface_id
                .and_then(|id| ifaces.iter().find(|i| i.id == id))
                .map(|i| (i.id, i.name.clone(), i.mac_address.clone())),
            device: d,
        })
        .collect())
}

pub fn list(c: &mut DbConn, n: &Node, f: &DeviceFilter) -> Result<Vec<DeviceView>> {
    let devices = db::node_devices::of(c, n.id)?.into_iter().filter(|d| f.matches(d)).collect();
    views(c, n, devices)
}

/// One device by MAAS's id forms: its number, `bus:device` (USB), or a PCI
/// address. MAAS answers "Invalid id format!" (400) for any miss by the
/// last two forms; a number that names no device is a 404.
pub fn get(c: &mut DbConn, n: &Node, id: &str) -> Result<DeviceView> {
    let found = find(c, n, id)?;
    Ok(views(c, n, vec![found])?.remove(0))
}

/// The device `id` names, in [`get`]'s forms and with its errors.
fn find(c: &mut DbConn, n: &Node, id: &str) -> Result<NodeDevice> {
    let all = db::node_devices::of(c, n.id)?;
    let invalid = || Error::BadRequest("Invalid id format!".into());
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        let want: i64 = id.parse().map_err(|_| Error::NotFound("NodeDevice"))?;
        all.into_iter().find(|d| d.id == want).ok_or(Error::NotFound("NodeDevice"))
    } else if let Some((b, d)) = id.split_once(':').filter(|_| id.matches(':').count() == 1) {
        let (b, d) = (b.parse::<i32>().map_err(|_| invalid())?, d.parse::<i32>().map_err(|_| invalid())?);
        all.into_iter().find(|x| x.bus_number == b && x.device_number == d).ok_or_else(invalid)
    } else {
        all.into_iter().find(|x| x.pci_address.as_deref() == Some(id)).ok_or_else(invalid)
    }
}

pub fn delete(c: &mut DbConn, n: &Node, id: &str) -> Result<()> {
    let d = find(c, n, id)?;
    db::node_devices::delete(c, d.id)
}
