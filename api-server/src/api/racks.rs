//! `rackcontrollers/` and `rackcontrollers/{system_id}/`: the racks that
//! registered over the rack link, with their interfaces, the services they
//! report and whether they are in contact.

use serde_json::Value;

use crate::db;
use crate::db::nodes::{Node, NodeFilter};
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Form;
use crate::http::registry::{optional, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new("RackControllersHandler", "rackcontrollers/", Access::Authenticated, "Manage rack controllers")
            .action(Action::new(Method::Get, None, "List rack controllers", handler_fn!(list)).params(&[
                optional("id", "String", "system_ids (repeat)."),
                optional("hostname", "String", "Hostnames (repeat)."),
            ])),
        Handler::new(
            "RackControllerHandler",
            "rackcontrollers/{system_id}/",
            Access::Authenticated,
            "Manage an individual rack controller",
        )
        .action(Action::new(Method::Get, None, "Read a rack controller", handler_fn!(read)))
        .action(Action::new(
            Method::Post,
            Some("accept"),
            "Accept a rack controller registered with the shared secret (Ironpool)",
            handler_fn!(accept),
        ))
        .action(
            Action::new(Method::Delete, None, "Delete a rack controller", handler_fn!(delete)).params(&[optional(
                "force",
                "Boolean",
                "Delete even if VLANs still use it for DHCP.",
            )]),
        ),
    ]
}

const RACK_TYPES: [NodeType; 2] = [NodeType::RackController, NodeType::RegionAndRackController];

/// MAAS's controller object: the machine-like subset plus `version` and
/// `service_set` (from the rack's last heartbeat).
fn render_all(c: &mut DbConn, nodes: &[Node]) -> Result<Vec<Value>> {
    let rel = db::related::load_related(c, nodes)?;
    let ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
    let rows = db::racks::of_nodes(c, &ids)?;
    Ok(nodes
        .iter()
        .map(|n| crate::api::views::rack::rack_json(n, &rel, rows.iter().find(|r| r.node_id == n.id)))
        .collect())
}

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let ids: Vec<String> = ctx.params.get_all("id").into_iter().map(str::to_string).collect();
    let hostnames: Vec<String> = ctx.params.get_all("hostname").into_iter().map(str::to_string).collect();
    let v = ctx
        .db()
        .run(move |c| {
            let filter = NodeFilter {
                node_types: RACK_TYPES.to_vec(),
                ids: (!ids.is_empty()).then_some(ids),
                hostnames: (!hostnames.is_empty()).then_some(hostnames),
                ..Default::default()
            };
            let nodes = db::nodes::list(c, &filter)?;
            render_all(c, &nodes)
        })
        .await?;
    Ok(Reply::Json(Value::Array(v)))
}

fn rack_node(c: &mut DbConn, sid: &str) -> Result<Node> {
    db::nodes::by_system_id(c, sid)?
        .filter(|n| RACK_TYPES.contains(&n.node_type))
        .ok_or(Error::NotFound("RackController"))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = rack_node(c, &sid)?;
            render_all(c, std::slice::from_ref(&n))
        })
        .await?;
    Ok(Reply::Json(v.into_iter().next().unwrap_or(Value::Null)))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let sid = ctx.path("system_id").to_string();
    let force = ctx.params.flag("force")?.unwrap_or(false);
    ctx.db()
        .write(move |c| {
            let n = rack_node(c, &sid)?;
            engine::racks::delete_rack(c, &n, force)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn accept(ctx: Ctx) -> Result<Reply> {
    let actor = ctx.admin()?.username.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .write(move |c| {
            let n = rack_node(c, &sid)?;
            engine::racks::accept(c, &n, &actor)?;
            render_all(c, std::slice::from_ref(&n))
        })
        .await?;
    Ok(Reply::Json(v.into_iter().next().unwrap_or(Value::Null)))
}
