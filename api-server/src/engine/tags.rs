//! Tags: names, kernel options, and definitions: XPath over the hardware
//! details commissioning stores, evaluated as MAAS evaluates them
//! ([`crate::engine::details`]). A tag with a definition is kept in step by
//! the region: on create, when its definition changes, on `rebuild` and
//! after each commissioning.

use crate::db;
use crate::db::tags::Tag;
use crate::db::DbConn;
use crate::engine::details;
use crate::engine::places::validate_name;
use crate::error::{Error, Result};

pub fn create_tag(c: &mut DbConn, name: &str, comment: &str, definition: &str, kernel_opts: &str) -> Result<Tag> {
    validate_name("name", name, ".:+")?;
    details::validate_definition(definition)?;
    let t = db::tags::insert(c, name, definition, comment, kernel_opts)?;
    details::populate_tag(c, &t)?;
    Ok(t)
}

pub fn update_tag(
    c: &mut DbConn,
    t: &Tag,
    name: Option<&str>,
    comment: Option<&str>,
    definition: Option<&str>,
    kernel_opts: Option<&str>,
) -> Result<Tag> {
    let new_name = name.unwrap_or(&t.name);
    validate_name("name", new_name, ".:+")?;
    if let Some(d) = definition {
        details::validate_definition(d)?;
    }
    db::tags::update(
        c,
        t.id,
        new_name,
        definition.unwrap_or(&t.definition),
        comment.unwrap_or(&t.comment),
        kernel_opts.unwrap_or(&t.kernel_opts),
    )?;
    let updated = db::tags::by_name(c, new_name)?.ok_or(Error::NotFound("Tag"))?;
    // MAAS repopulates only when the definition changed (and is not empty).
    if updated.definition != t.definition {
        details::populate_tag(c, &updated)?;
    }
    Ok(updated)
}

/// `rebuild`: re-evaluates a defined tag against every node now.
pub fn rebuild(c: &mut DbConn, t: &Tag) -> Result<()> {
    details::populate_tag(c, t)
}
