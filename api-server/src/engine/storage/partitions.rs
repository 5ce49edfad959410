//! Partitions: MAAS's alignment, table overhead and boot partitions.

use crate::db;
use crate::db::nodes::Node;
use crate::db::storage::{BlockDeviceChanges, NewPartition, NodeStorage, Partition};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine::storage::model::check_uuid;
use crate::engine::storage::model::device_of;
use crate::engine::storage::model::human_size;
use crate::engine::storage::model::new_uuid;
use crate::engine::storage::model::part_of;
use crate::engine::storage::model::partition_of;
use crate::engine::storage::model::round_down;
use crate::engine::storage::model::Storage;
use crate::engine::storage::model::Target;
use crate::engine::storage::model::GPT_REQUIRED_SIZE;
use crate::engine::storage::model::MIN_PARTITION_SIZE;
use crate::engine::storage::model::PARTITION_ALIGNMENT_SIZE;
use crate::engine::storage::rules::check_change;
use crate::engine::storage::rules::rename_field;
use crate::engine::storage::rules::Need;
use crate::error::{Error, Result};

/// `POST partitions/`.
#[derive(Debug, Clone, Default)]
pub struct PartitionInput {
    pub size: Option<i64>,
    pub uuid: Option<String>,
    pub bootable: bool,
}

/// Adds a partition (creating the device's partition table first if it has
/// none) without permission checks; `size` `None` takes all free space.
pub(crate) fn add_partition(
    c: &mut DbConn,
    n: &Node,
    st: &mut NodeStorage,
    device_id: i64,
    input: PartitionInput,
) -> Result<Partition> {
    let idx = st.devices.iter().position(|d| d.id == device_id).ok_or(Error::NotFound("BlockDevice"))?;
    if st.devices[idx].partition_table_type.is_none() {
        let t = Storage::new(n, st).new_table_type(&st.devices[idx]).to_string();
        db::storage::update_device(
            c,
            device_id,
            &BlockDeviceChanges { partition_table_type: Some(Some(t.clone())), ..Default::default() },
        )?;
        st.devices[idx].partition_table_type = Some(t);
    }
    let s = Storage::new(n, st);
    let d = &st.devices[idx];
    let available = s.partition_space(d);
    let size = match input.size {
        None => available,
        Some(sz) => {
            if sz < MIN_PARTITION_SIZE {
                return Err(Error::field(
                    "size",
                    format!("Ensure this value is greater than or equal to {MIN_PARTITION_SIZE}."),
                ));
            }
            round_down(sz, PARTITION_ALIGNMENT_SIZE)
        }
    };
    if size > available || size < MIN_PARTITION_SIZE {
        return Err(Error::field(
            "size",
            format!(
                "Partition cannot be saved; not enough free space on the block device ({} requested, {} available).",
                human_size(input.size.unwrap_or(size)),
                human_size(available)
            ),
        ));
    }
    if d.partition_table_type.as_deref() == Some("MBR") && size > GPT_REQUIRED_SIZE {
        return Err(Error::field("size", "Partition cannot be larger than 2 TiB on an MBR partition table."));
    }
    let uuid = match input.uuid.filter(|u| !u.trim().is_empty()) {
        Some(u) => check_uuid("uuid", &u)?,
        None => new_uuid(),
    };
    let p = db::storage::insert_partition(
        c,
        &NewPartition {
            node_id: n.id,
            block_device_id: device_id,
            uuid,
            size,
            bootable: input.bootable,
            tags: "[]".into(),
            created_at: db::now(),
        },
    )?;
    st.partitions.push(p.clone());
    Ok(p)
}

/// [`add_partition`] for layouts: errors name `field` instead of `size`.
pub(crate) fn add_partition_unchecked(
    c: &mut DbConn,
    n: &Node,
    st: &mut NodeStorage,
    device_id: i64,
    size: Option<i64>,
    field: &str,
) -> Result<i64> {
    add_partition(c, n, st, device_id, PartitionInput { size, uuid: None, bootable: false })
        .map(|p| p.id)
        .map_err(|e| rename_field(e, "size", field))
}

pub fn create_partition(c: &mut DbConn, user: &User, n: &Node, device_id: i64, input: PartitionInput) -> Result<i64> {
    let mut st = db::storage::load_node(c, n.id)?;
    let s = Storage::new(n, &st);
    let d = device_of(&s, device_id)?;
    check_change(user, n, "create partition on", "block device", Need::Edit)?;
    if s.filesystem(Target::Device(d.id)).is_some() {
        return Err(Error::BadRequest(
            "Cannot create a partition on a block device that is formatted or part of a volume group.".into(),
        ));
    }
    Ok(add_partition(c, n, &mut st, device_id, input)?.id)
}

pub fn delete_partition(c: &mut DbConn, user: &User, n: &Node, device_id: i64, id: i64) -> Result<()> {
    let st = db::storage::load_node(c, n.id)?;
    partition_of(&st, device_id, id)?;
    check_change(user, n, "delete", "partition", Need::Edit)?;
    if let Some(g) = Storage::new(n, &st).group_of(Target::Partition(id)) {
        return Err(Error::BadRequest(format!("Cannot delete partition because its part of {}.", part_of(g))));
    }
    db::storage::delete_partition(c, id)
}
