//! Queries of `node_devices`: the PCI and USB devices a node's last
//! commissioning reported (MAAS's NodeDevice), read by
//! `nodes/{id}/devices/`.

use diesel::prelude::*;

use crate::db::schema::node_devices;
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = node_devices)]
pub struct NodeDevice {
    pub id: i64,
    pub node_id: i64,
    pub bus: i32,
    pub hardware_type: i32,
    pub vendor_id: String,
    pub product_id: String,
    pub vendor_name: String,
    pub product_name: String,
    pub commissioning_driver: String,
    pub bus_number: i32,
    pub device_number: i32,
    pub pci_address: Option<String>,
    pub numa_node: i32,
    pub physical_blockdevice_id: Option<i64>,
    pub physical_interface_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = node_devices)]
pub struct NewNodeDevice {
    pub node_id: i64,
    pub bus: i32,
    pub hardware_type: i32,
    pub vendor_id: String,
    pub product_id: String,
    pub vendor_name: String,
    pub product_name: String,
    pub commissioning_driver: String,
    pub bus_number: i32,
    pub device_number: i32,
    pub pci_address: Option<String>,
    pub numa_node: i32,
    pub physical_blockdevice_id: Option<i64>,
    pub physical_interface_id: Option<i64>,
}

/// A node's devices, PCI before USB, in bus order.
pub fn of(c: &mut DbConn, node_id: i64) -> Result<Vec<NodeDevice>> {
    node_devices::table
        .filter(node_devices::node_id.eq(node_id))
        .order((node_devices::bus, node_devices::bus_number, node_devices::device_number, node_devices::id))
        .select(NodeDevice::as_select())
        .load(c)
        .map_err(from_diesel)
}

/// Replaces the node's devices with what a commissioning found.
pub fn replace(c: &mut DbConn, node_id: i64, rows: &[NewNodeDevice]) -> Result<()> {
    diesel::delete(node_devices::table.filter(node_devices::node_id.eq(node_id))).execute(c).map_err(from_diesel)?;
    for r in rows {
        diesel::insert_into(node_devices::table).values(r).execute(c).map_err(from_diesel)?;
    }
    Ok(())
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(node_devices::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}
