//! `devices/` and `devices/{system_id}/`: hosts Ironpool does not manage
//! (containers, appliances) that carry interfaces and addresses. Juju creates
//! one per container to give it an address from MAAS.

use serde_json::Value;

use crate::api::machines;
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
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
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
            .action(Action::new(Method::Post, None, "Create a device", handler_fn!(create)).params(&create_params))
            // MAAS's DevicesHandler inherits these from NodesHandler.
            .action(
                Action::new(Method::Get, Some("is_registered"), "MAC address registered", handler_fn!(machines::is_registered))
                    .returns(Returns::AnyJson)
                    .params(&[required("mac_address", "String", "The MAC address.")]),
            )
            .action(
                Action::new(Method::Post, Some("set_zone"), "Assign nodes to a zone", handler_fn!(machines::set_zone))
                    .returns(Returns::Nothing(200))
                    .describe("Administrators only.")
                    .params(&[required("zone", "String", "Zone name."), required("nodes", "String", "system_ids (repeatable).")]),
            ),
        Handler::new("DeviceHandler", "devices/{system_id}/", Access::Authenticated, "Manage an individual device")
            .action(Action::new(Method::Get, None, "Read a device", handler_fn!(read)))
            .action(Action::new(Method::Put, None, "Update a device", handler_fn!(update)).params(&fields))
            .action(Action::new(Method::Delete, None, "Delete a device", handler_fn!(delete)))
            .action(
                Action::new(Method::Get, Some("details"), "Get system details", handler_fn!(details))
                    .returns(Returns::Bytes("application/bson"))
                    .describe("BSON map of probe name (lshw, lldp) to XML, as for machines."),
            )
            .action(
                Action::new(Method::Get, Some("power_parameters"), "Get power parameters", handler_fn!(power_parameters))
                    .returns(Returns::AnyJson)
                    .describe("Administrators only; includes BMC passwords."),
            )
            .action(
                Action::new(Method::Post, Some("set_owner_data"), "Deprecated, use set_workload_annotations", handler_fn!(set_owner_data))
                    .describe("key=value pairs; an empty value removes the key. Only the device's owner.")
                    .params(&[optional("{key}", "String", "Any key=value pair.")]),
            )
            .action(
                Action::new(Method::Post, Some("set_workload_annotations"), "Set key=value data", handler_fn!(set_owner_data))
                    .describe("key=value pairs; an empty value removes the key. Only the device's owner.")
                    .params(&[optional("{key}", "String", "Any key=value pair.")]),
            )
            .action(
                Action::new(Method::Post, Some("restore_networking_configuration"), "Reset networking options", handler_fn!(restore_networking))
                    .describe("Administrators only. Removes every link (observed addresses stay) and links the boot interface as at creation."),
            )
            .action(
                Action::new(Method::Post, Some("restore_default_configuration"), "Reset device configuration", handler_fn!(restore_networking))
                    .describe("Administrators only. As restore_networking_configuration (a device has no other configuration)."),
            ),
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

/// Loads the URL's device, runs `op` in one write transaction, renders it.
async fn with_device<F>(ctx: Ctx, op: F) -> Result<Reply>
where
    F: FnOnce(&mut DbConn, &db::users::User, Node) -> Result<Node> + Send + 'static,
{
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .write(move |c| {
            let n = device(c, &user, &sid)?;
            let n = op(c, &user, n)?;
            render(c, &n)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn details(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let d = ctx
        .db()
        .run(move |c| {
            let n = device(c, &user, &sid)?;
            crate::db::node_details::of(c, n.id)
        })
        .await?;
    Ok(machines::details_reply(d))
}

async fn power_parameters(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx.db().run(move |c| Ok(engine::nodes::power::power_parameters(&device(c, &user, &sid)?))).await?;
    Ok(Reply::Json(v))
}

async fn set_owner_data(ctx: Ctx) -> Result<Reply> {
    let pairs = machines::owner_data_pairs(&ctx.params);
    with_device(ctx, move |c, user, n| engine::nodes::owner_data::set_owner_data(c, user, &n, &pairs)).await
}

async fn restore_networking(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    with_device(ctx, |c, _, n| {
        engine::interfaces::restore_initial_links(c, &n)?;
        db::nodes::by_system_id(c, &n.system_id)?.ok_or(Error::NotFound("Device"))
    })
    .await
}
