//! `reservedips/` and `reservedips/{id}/` (MAAS 3.6's ReservedIpsHandler
//! and ReservedIpHandler): every user reads, admins create, change the
//! comment and delete.

use serde_json::Value;

use crate::api::views::network::NetJson;
use crate::api::views::reserved_ip::reserved_ip_json;
use crate::db::DbConn;
use crate::engine;
use crate::engine::reserved_ips::ReservedIpInput;
use crate::error::Result;
use crate::handler_fn;
use crate::http::params::Form;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new("ReservedIpsHandler", "reservedips/", Access::Authenticated, "Manage Reserved IPs")
            .action(Action::new(Method::Get, None, "List all available Reserved IPs", handler_fn!(list)))
            .action(
                Action::new(Method::Post, None, "Create a Reserved IP", handler_fn!(create))
                    .describe(
                        "Administrators only. The address must lie in a subnet MAAS knows, outside its dynamic \
                         range; IPAM never hands it to anything else, and the rack's DHCP server gives it to the MAC.",
                    )
                    .params(&[
                        required("ip", "String", "The IP to be reserved."),
                        required("mac_address", "String", "The MAC address that should be linked to the reserved IP."),
                        optional("subnet", "Int", "ID of the subnet associated with the IP to be reserved."),
                        optional("comment", "String", "A description of this reserved IP."),
                    ]),
            ),
        Handler::new("ReservedIpHandler", "reservedips/{id}/", Access::Authenticated, "Manage Reserved IP")
            .action(Action::new(Method::Get, None, "Read a Reserved IP", handler_fn!(read)))
            .action(
                Action::new(Method::Put, None, "Update a reserved IP", handler_fn!(update))
                    .describe(
                        "Administrators only. Only the comment can change; ip, mac_address and subnet are immutable.",
                    )
                    .params(&[
                        optional("ip", "String", "The reserved IP (unchanged)."),
                        optional("mac_address", "String", "The MAC address (unchanged)."),
                        optional("subnet", "Int", "The subnet (unchanged)."),
                        optional("comment", "String", "A description of this reserved IP."),
                    ]),
            )
            .action(
                Action::new(Method::Delete, None, "Delete a reserved IP", handler_fn!(delete))
                    .describe("Administrators only."),
            ),
    ]
}

fn input(f: &dyn Form) -> ReservedIpInput {
    ReservedIpInput {
        ip: f.value("ip").map(str::to_string),
        mac_address: f.value("mac_address").map(str::to_string),
        subnet: f.value("subnet").map(str::to_string),
        comment: f.value("comment").map(str::to_string),
    }
}

/// Renders reservations with their subnets (MAAS nests the subnet object).
fn render(c: &mut DbConn, rows: &[crate::db::reserved_ips::ReservedIp]) -> Result<Vec<Value>> {
    let (model, racks) = crate::api::network::load(c)?;
    let net = NetJson::new(&model, &racks);
    Ok(rows.iter().map(|r| reserved_ip_json(r, net.subnet(r.subnet_id))).collect())
}

fn one(v: Vec<Value>) -> Reply {
    Reply::Json(v.into_iter().next().unwrap_or(Value::Null))
}

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let v = ctx
        .db()
        .run(|c| {
            let rows = crate::db::reserved_ips::all(c)?;
            render(c, &rows)
        })
        .await?;
    Ok(Reply::Json(Value::Array(v)))
}

async fn create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let i = input(&ctx.params);
    let v = ctx
        .db()
        .write(move |c| {
            let r = engine::reserved_ips::create(c, &i)?;
            render(c, &[r])
        })
        .await?;
    Ok(one(v))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let key = ctx.path("id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let r = engine::reserved_ips::by_key(c, &key)?;
            render(c, &[r])
        })
        .await?;
    Ok(one(v))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("id").to_string();
    let i = input(&ctx.params);
    let v = ctx
        .db()
        .write(move |c| {
            let r = engine::reserved_ips::by_key(c, &key)?;
            let r = engine::reserved_ips::update(c, &r, &i)?;
            render(c, &[r])
        })
        .await?;
    Ok(one(v))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("id").to_string();
    ctx.db()
        .write(move |c| {
            let r = engine::reserved_ips::by_key(c, &key)?;
            engine::reserved_ips::delete(c, &r)
        })
        .await?;
    Ok(Reply::NoContent)
}
