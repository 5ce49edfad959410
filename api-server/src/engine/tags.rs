//! Tags: names, the XPath definitions MAAS evaluates against hardware details (refused until commissioning stores them), kernel options.

use crate::db;
use crate::db::tags::Tag;
use crate::db::DbConn;
use crate::engine::places::validate_name;
use crate::error::{Error, Result};

pub fn create_tag(c: &mut DbConn, name: &str, comment: &str, definition: &str, kernel_opts: &str) -> Result<Tag> {
    validate_name("name", name, ".:+")?;
    if !definition.trim().is_empty() {
        // Definitions are XPath over commissioning data, evaluated once the
        // inventory exists; until then refuse rather than silently ignore.
        return Err(Error::field(
            "definition",
            "Tag definitions (XPath over hardware details) are not supported yet: create a manual tag and use update_nodes.",
        ));
    }
    db::tags::insert(c, name, definition, comment, kernel_opts)
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
    if definition.is_some_and(|d| !d.trim().is_empty()) {
        return Err(Error::field("definition", "Tag definitions (XPath over hardware details) are not supported yet."));
    }
    db::tags::update(
        c,
        t.id,
        new_name,
        definition.unwrap_or(&t.definition),
        comment.unwrap_or(&t.comment),
        kernel_opts.unwrap_or(&t.kernel_opts),
    )?;
    db::tags::by_name(c, new_name)?.ok_or(Error::NotFound("Tag"))
}
