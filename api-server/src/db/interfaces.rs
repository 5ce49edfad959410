//! Interface rows (physical, bond, bridge, VLAN) of nodes.

use crate::db::schema::interfaces;
use crate::db::{from_diesel, DbConn};
use crate::error::Result;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = interfaces)]
pub struct Interface {
    pub id: i64,
    pub node_id: i64,
    pub name: String,
    pub iftype: String,
    pub mac_address: Option<String>,
    pub enabled: bool,
    pub is_boot: bool,
    pub vlan_id: Option<i64>,
    pub params: String,
    pub tags: String,
    pub link_connected: bool,
    pub interface_speed: i64,
    pub link_speed: i64,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub firmware_version: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = interfaces)]
pub struct NewInterface {
    pub node_id: i64,
    pub name: String,
    pub iftype: String,
    pub mac_address: Option<String>,
    pub enabled: bool,
    pub is_boot: bool,
    pub vlan_id: Option<i64>,
    pub params: String,
    pub tags: String,
    pub link_connected: bool,
    pub interface_speed: i64,
    pub link_speed: i64,
    pub created_at: NaiveDateTime,
}

pub fn insert_interface(c: &mut DbConn, new: &NewInterface) -> Result<()> {
    diesel::insert_into(interfaces::table).values(new).execute(c).map_err(from_diesel)?;
    Ok(())
}
