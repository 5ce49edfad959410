//! Queries of tags and their attachment to nodes.

use diesel::prelude::*;

use crate::db::schema::{node_tags, tags};
use crate::db::{from_diesel, is_unique_violation, DbConn};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;

pub fn list(c: &mut DbConn) -> Result<Vec<Tag>> {
    tags::table.order(tags::name).select(Tag::as_select()).load(c).map_err(from_diesel)
}

pub fn by_name(c: &mut DbConn, name: &str) -> Result<Option<Tag>> {
    tags::table.filter(tags::name.eq(name)).select(Tag::as_select()).first(c).optional().map_err(from_diesel)
}

pub fn by_names(c: &mut DbConn, names: &[String]) -> Result<Vec<Tag>> {
    let mut out = Vec::new();
    for chunk in names.chunks(super::nodes::CHUNK) {
        out.extend(tags::table.filter(tags::name.eq_any(chunk)).select(Tag::as_select()).load(c).map_err(from_diesel)?);
    }
    Ok(out)
}

pub fn insert(c: &mut DbConn, name: &str, definition: &str, comment: &str, kernel_opts: &str) -> Result<Tag> {
    diesel::insert_into(tags::table)
        .values((
            tags::name.eq(name),
            tags::definition.eq(definition),
            tags::comment.eq(comment),
            tags::kernel_opts.eq(kernel_opts),
            tags::created_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("name", "Tag with this Name already exists.")
            } else {
                from_diesel(e)
            }
        })?;
    by_name(c, name)?.ok_or_else(|| Error::Internal("inserted tag vanished".into()))
}

pub fn update(c: &mut DbConn, id: i64, name: &str, definition: &str, comment: &str, kernel_opts: &str) -> Result<()> {
    diesel::update(tags::table.find(id))
        .set((
            tags::name.eq(name),
            tags::definition.eq(definition),
            tags::comment.eq(comment),
            tags::kernel_opts.eq(kernel_opts),
        ))
        .execute(c)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::field("name", "Tag with this Name already exists.")
            } else {
                from_diesel(e)
            }
        })?;
    Ok(())
}

pub fn delete(c: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(tags::table.find(id)).execute(c).map_err(from_diesel)?;
    Ok(())
}

pub fn node_ids(c: &mut DbConn, tag_id: i64) -> Result<Vec<i64>> {
    node_tags::table.filter(node_tags::tag_id.eq(tag_id)).select(node_tags::node_id).load(c).map_err(from_diesel)
}

/// Attaches the tag to the nodes that lack it; returns how many were added.
pub fn attach(c: &mut DbConn, tag_id: i64, node_ids: &[i64]) -> Result<usize> {
    let have = self::node_ids(c, tag_id)?;
    let mut added = 0;
    for id in node_ids {
        if !have.contains(id) {
            diesel::insert_into(node_tags::table)
                .values((node_tags::node_id.eq(*id), node_tags::tag_id.eq(tag_id)))
                .execute(c)
                .map_err(from_diesel)?;
            added += 1;
        }
    }
    Ok(added)
}

pub fn detach(c: &mut DbConn, tag_id: i64, node_ids: &[i64]) -> Result<usize> {
    diesel::delete(node_tags::table.filter(node_tags::tag_id.eq(tag_id)).filter(node_tags::node_id.eq_any(node_ids)))
        .execute(c)
        .map_err(from_diesel)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    pub definition: String,
    pub comment: String,
    pub kernel_opts: String,
    pub created_at: NaiveDateTime,
}
