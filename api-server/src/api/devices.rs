//! `devices/` and `devices/{system_id}/`: hosts Ironpool does not manage
//! (containers, appliances) that carry interfaces and addresses. Juju creates
//! one per container to give it an address from MAAS.

use serde_json::Value;

use crate::api::support::list_nodes_of;
use crate::api::views::machine::device_json;
use crate::db;
use crate::db::nodes::Node;
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::engine::nodes::create::DeviceInput;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Params;
use crate::http::registry::{optional, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let fields = [
        optional("hostname", "String", "Hostname (default: a generated name)."),
        optional("description", "String", "Description."),
        optional("domain", "String", "Domain name."),
        optional("zone", "String", "Zone name."),
        optional("parent", "String", "system_id of the node hosting the device."),
    ];
    let mut create_params = fields.to_vec();
    create_params.push(optional("mac_addresses", "String", "MAC addresses (repeat); one physical interface each."));
    vec![
        Handler::new("DevicesHandler", "devices/", Access::Authenticated, "Manage devices")
            .action(Action::new(Method::Get, None, "List devices", handler_fn!(list)).params(&[
                optional("id", "String", "system_ids (repeat)."),
                optional("hostname", "String", "Hostnames (repeat)."),
                optional("mac_address", "String", "MAC addresses (repeat)."),
                optional("domain", "String", "Domain."),
                optional("zone", "String", "Zone."),
                optional("agent_name", "String", "Agent name."),
            ]))
            .action(Action::new(Method::Post, None, "Create a device", handler_fn!(create)).params(&create_params)),
        Handler::new("DeviceHandler", "devices/{system_id}/", Access::Authenticated, "Manage an individual device")
            .action(Action::new(Method::Get, None, "Read a device", handler_fn!(read)))
            .action(Action::new(Method::Put, None, "Update a device", handler_fn!(update)).params(&fields))
            .action(Action::new(Method::Delete, None, "Delete a device", handler_fn!(delete))),
    ]
}

fn input(p: &Params) -> DeviceInput {
    DeviceInput {
        hostname: p.get("hostname").map(|h| h.trim().to_string()),
        description: p.get("description").map(str::to_string),
        domain: p.get_nonempty("domain").map(str::to_string),
        zone: p.get_nonempty("zone").map(str::to_string),
        parent: p.get("parent").map(str::to_string),
        mac_addresses: p
            .get_all("mac_addresses")
            .into_iter()
            .chain(p.get_all("mac_addresses[]"))
            .map(str::to_string)
            .collect(),
    }
}

fn render(c: &mut DbConn, n: &Node) -> Result<Value> {
    let rel = db::related::load_related(c, std::slice::from_ref(n))?;
    Ok(device_json(n, &rel))
}

fn device(c: &mut DbConn, user: &db::users::User, sid: &str) -> Result<Node> {
    let n = engine::access::get_visible(c, user, sid, "Device")?;
    if n.node_type != NodeType::Device {
        return Err(Error::NotFound("Device"));
    }
    Ok(n)
}

async fn list(ctx: Ctx) -> Result<Reply> {
    list_nodes_of(ctx, vec![NodeType::Device]).await
}

async fn create(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let inp = input(&ctx.params);
    let v = ctx
        .db()
        .write(move |c| {
            let n = engine::nodes::create::create_device(c, &user, inp)?;
            render(c, &n)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = device(c, &user, &sid)?;
            render(c, &n)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let inp = input(&ctx.params);
    let v = ctx
        .db()
        .write(move |c| {
            let n = device(c, &user, &sid)?;
            let n = engine::nodes::create::update_device(c, &user, &n, inp)?;
            render(c, &n)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    ctx.db()
        .write(move |c| {
            let n = device(c, &user, &sid)?;
            engine::nodes::create::delete_device(c, &user, &n)
        })
        .await?;
    Ok(Reply::NoContent)
}
