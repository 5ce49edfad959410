//! Queries of `node_details`: the lshw and LLDP documents a node's last
//! commissioning reported (what `details` serves and tag XPath reads).

use diesel::prelude::*;

use crate::db::schema::node_details;
use crate::db::{from_diesel, DbConn};
use crate::error::Result;

/// One node's stored details; `None` where commissioning did not send one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = node_details)]
pub struct NodeDetails {
    pub node_id: i64,
    pub lshw: Option<Vec<u8>>,
    pub lldp: Option<Vec<u8>>,
}

pub fn of(c: &mut DbConn, node_id: i64) -> Result<Option<NodeDetails>> {
    node_details::table.find(node_id).select(NodeDetails::as_select()).first(c).optional().map_err(from_diesel)
}

/// Every node's details, for re-evaluating one tag against all nodes.
pub fn all(c: &mut DbConn) -> Result<Vec<NodeDetails>> {
    node_details::table.order(node_details::node_id).select(NodeDetails::as_select()).load(c).map_err(from_diesel)
}

/// Replaces the node's details (a new commissioning supersedes the last).
pub fn put(c: &mut DbConn, d: &NodeDetails) -> Result<()> {
    diesel::delete(node_details::table.find(d.node_id)).execute(c).map_err(from_diesel)?;
    diesel::insert_into(node_details::table)
        .values((
            node_details::node_id.eq(d.node_id),
            node_details::lshw.eq(d.lshw.as_deref()),
            node_details::lldp.eq(d.lldp.as_deref()),
            node_details::updated_at.eq(super::now()),
        ))
        .execute(c)
        .map_err(from_diesel)?;
    Ok(())
}

/// Every node's id: a tag is evaluated against nodes without details too
/// (an empty document), as MAAS evaluates it against all nodes.
pub fn all_node_ids(c: &mut DbConn) -> Result<Vec<i64>> {
    use crate::db::schema::nodes;
    nodes::table.order(nodes::id).select(nodes::id).load(c).map_err(from_diesel)
}
