//! Zones, resource pools and tags: validation and the rules around the
//! defaults (the default zone and pool always exist).

use crate::db;
use crate::db::places::{Pool, Zone};
use crate::db::DbConn;
use crate::engine;
use crate::error::{Error, Result};

/// Names MAAS accepts for zones, pools and tags: letters, digits, `-` and `_`
/// (tags also `.`, `:` and `+`… kept to the safe subset).
pub(crate) fn validate_name(field: &str, name: &str, extra: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::required(field));
    }
    if name.len() > 256 || !name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_' || extra.contains(c)) {
        return Err(Error::field(field, format!("Invalid name '{name}': use letters, digits, '-' and '_'.")));
    }
    Ok(())
}

pub fn create_zone(c: &mut DbConn, name: &str, description: &str) -> Result<Zone> {
    validate_name("name", name, "")?;
    db::places::zone_insert(c, name, description)
}

pub fn update_zone(c: &mut DbConn, z: &Zone, name: Option<&str>, description: Option<&str>) -> Result<Zone> {
    let new_name = name.unwrap_or(&z.name);
    validate_name("name", new_name, "")?;
    if z.id == engine::defaults::DEFAULT_ZONE_ID && new_name != z.name {
        return Err(Error::BadRequest("The default zone cannot be renamed.".into()));
    }
    db::places::zone_update(c, z.id, new_name, description.unwrap_or(&z.description))?;
    db::places::zone_by_name(c, new_name)?.ok_or(Error::NotFound("Zone"))
}

/// Deletes a zone; its nodes move to the default zone, as in MAAS.
pub fn delete_zone(c: &mut DbConn, z: &Zone) -> Result<()> {
    if z.id == engine::defaults::DEFAULT_ZONE_ID {
        return Err(Error::BadRequest("This zone is the default zone, it cannot be deleted.".into()));
    }
    db::places::move_zone_nodes(c, z.id, engine::defaults::DEFAULT_ZONE_ID)?;
    db::vm_hosts::move_zone(c, z.id, engine::defaults::DEFAULT_ZONE_ID)?;
    db::places::zone_delete(c, z.id)
}

pub fn create_pool(c: &mut DbConn, name: &str, description: &str) -> Result<Pool> {
    validate_name("name", name, "")?;
    db::places::pool_insert(c, name, description)
}

pub fn update_pool(c: &mut DbConn, p: &Pool, name: Option<&str>, description: Option<&str>) -> Result<Pool> {
    let new_name = name.unwrap_or(&p.name);
    validate_name("name", new_name, "")?;
    db::places::pool_update(c, p.id, new_name, description.unwrap_or(&p.description))?;
    db::places::pool_by_id(c, p.id)?.ok_or(Error::NotFound("ResourcePool"))
}

pub fn delete_pool(c: &mut DbConn, p: &Pool) -> Result<()> {
    if p.id == engine::defaults::DEFAULT_POOL_ID {
        return Err(Error::BadRequest("This is the default pool, it cannot be deleted.".into()));
    }
    let n = db::places::pool_node_count(c, p.id)?;
    if n > 0 {
        return Err(Error::BadRequest(format!(
            "Pool {} has {n} machine(s) in it; move them to another pool first.",
            p.name
        )));
    }
    // VM hosts compose into their pool by default; they move to the default one.
    db::vm_hosts::move_pool(c, p.id, engine::defaults::DEFAULT_POOL_ID)?;
    db::places::pool_delete(c, p.id)
}

/// A pool by numeric id or by name (`resourcepool/{id}/` takes both).
pub fn pool_by_key(c: &mut DbConn, key: &str) -> Result<Pool> {
    let p = match key.parse::<i64>() {
        Ok(id) => db::places::pool_by_id(c, id)?,
        Err(_) => db::places::pool_by_name(c, key)?,
    };
    p.ok_or(Error::NotFound("ResourcePool"))
}
