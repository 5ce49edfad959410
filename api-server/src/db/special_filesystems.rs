//! Queries of `special_filesystems`: tmpfs/ramfs mounts of a machine, which
//! need no block device (machines/{id}/?op=mount_special).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::special_filesystems;
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = special_filesystems)]
pub struct SpecialFilesystem {
    pub id: i64,
    pub node_id: i64,
    pub fstype: String,
    pub uuid: String,
    pub mount_point: String,
    pub mount_options: String,
    pub acquired: bool,
    pub created_at: NaiveDateTime,
}

/// The special filesystems of `node_ids`, by node then id.
pub fn of_nodes(c: &mut DbConn, node_ids: &[i64]) -> Result<Vec<SpecialFilesystem>> {
    special_filesystems::table
        .filter(special_filesystems::node_id.eq_any(node_ids))
        .order((special_filesystems::node_id, special_filesystems::id))
        .select(SpecialFilesystem::as_select())
        .load(c)
        .map_err(from_diesel)
}

pub fn insert(
    c: &mut DbConn,
    node_id: i64,
    fstype: &str,
    uuid: &str,
    mount_point: &str,
    mount_options: &str,
    acquired: bool,
) -> Result<()> {
    diesel::insert_into(special_filesystems::table)
        .values((
            special_filesystems::node_id.eq(node_id),
            special_filesystems::fstype.eq(fstype),
            special_filesystems::uuid.eq(uuid),
            special_filesystems::mount_point.eq(mount_point),
            special_filesystems::mount_options.eq(mount_options),
            special_filesystems::acquired.eq(acquired),
            special_filesystems::created_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(special_filesystems::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

/// Removes the owner's mounts at release (`acquired`), keeping the layout's.
pub fn delete_acquired(c: &mut DbConn, node_id: i64) -> Result<usize> {
    diesel::delete(
        special_filesystems::table
            .filter(special_filesystems::node_id.eq(node_id))
            .filter(special_filesystems::acquired.eq(true)),
    )
    .execute(c)
    .map_err(from_diesel)
}

/// Removes every special filesystem of the node (a clone replaces them).
pub fn delete_all(c: &mut DbConn, node_id: i64) -> Result<usize> {
    diesel::delete(special_filesystems::table.filter(special_filesystems::node_id.eq(node_id)))
        .execute(c)
        .map_err(from_diesel)
}
