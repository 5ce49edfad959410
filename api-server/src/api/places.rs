//! `zones/`, `zones/{name}/`, `resourcepools/`, `resourcepool/{id}/`.

use serde_json::Value;

use crate::api::views::place::{pool_json, zone_json};
use crate::db;
use crate::engine;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let desc = optional("description", "String", "Description.");
    vec![
        Handler::new("ZonesHandler", "zones/", Access::Authenticated, "Manage physical zones")
            .action(Action::new(Method::Get, None, "List available zones", handler_fn!(zones_list)))
            .action(
                Action::new(Method::Post, None, "Create a new zone", handler_fn!(zones_create))
                    .describe("Administrators only.")
                    .params(&[required("name", "String", "Zone name."), desc]),
            ),
        Handler::new("ZoneHandler", "zones/{name}/", Access::Authenticated, "Manage a physical zone")
            .action(Action::new(Method::Get, None, "Retrieve a zone", handler_fn!(zone_read)))
            .action(
                Action::new(Method::Put, None, "Update a zone", handler_fn!(zone_update))
                    .params(&[optional("name", "String", "New name."), desc]),
            )
            .action(
                Action::new(Method::Delete, None, "Delete a zone", handler_fn!(zone_delete))
                    .describe("Its nodes move to the default zone."),
            ),
        Handler::new("ResourcePoolsHandler", "resourcepools/", Access::Authenticated, "Manage resource pools")
            .action(Action::new(Method::Get, None, "List resource pools", handler_fn!(pools_list)))
            .action(
                Action::new(Method::Post, None, "Create a resource pool", handler_fn!(pools_create))
                    .params(&[required("name", "String", "Pool name."), desc]),
            ),
        Handler::new("ResourcePoolHandler", "resourcepool/{id}/", Access::Authenticated, "Manage a resource pool")
            .describe("The item URL is singular (resourcepool/), the collection plural, as in MAAS.")
            .action(Action::new(Method::Get, None, "Retrieve a resource pool", handler_fn!(pool_read)))
            .action(
                Action::new(Method::Put, None, "Update a resource pool", handler_fn!(pool_update))
                    .params(&[optional("name", "String", "New name."), desc]),
            )
            .action(Action::new(Method::Delete, None, "Delete a resource pool", handler_fn!(pool_delete))),
    ]
}

async fn zones_list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let z = ctx.db().run(db::places::zones).await?;
    Ok(Reply::json(z.iter().map(zone_json).collect::<Vec<Value>>()))
}

async fn zones_create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let name = ctx.params.get("name").unwrap_or("").trim().to_string();
    let desc = ctx.params.get("description").unwrap_or("").to_string();
    let z = ctx.db().write(move |c| engine::places::create_zone(c, &name, &desc)).await?;
    Ok(Reply::Json(zone_json(&z)))
}

async fn zone_read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let name = ctx.path("name").to_string();
    let z = ctx.db().run(move |c| db::places::zone_by_name(c, &name)?.ok_or(Error::NotFound("Zone"))).await?;
    Ok(Reply::Json(zone_json(&z)))
}

async fn zone_update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("name").to_string();
    let name = ctx.params.get_nonempty("name").map(str::to_string);
    let desc = ctx.params.get("description").map(str::to_string);
    let z = ctx
        .db()
        .write(move |c| {
            let z = db::places::zone_by_name(c, &key)?.ok_or(Error::NotFound("Zone"))?;
            engine::places::update_zone(c, &z, name.as_deref(), desc.as_deref())
        })
        .await?;
    Ok(Reply::Json(zone_json(&z)))
}

async fn zone_delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("name").to_string();
    ctx.db()
        .write(move |c| {
            let z = db::places::zone_by_name(c, &key)?.ok_or(Error::NotFound("Zone"))?;
            engine::places::delete_zone(c, &z)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn pools_list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let p = ctx.db().run(db::places::pools).await?;
    Ok(Reply::json(p.iter().map(pool_json).collect::<Vec<Value>>()))
}

async fn pools_create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let name = ctx.params.get("name").unwrap_or("").trim().to_string();
    let desc = ctx.params.get("description").unwrap_or("").to_string();
    let p = ctx.db().write(move |c| engine::places::create_pool(c, &name, &desc)).await?;
    Ok(Reply::Json(pool_json(&p)))
}

async fn pool_read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let key = ctx.path("id").to_string();
    let p = ctx.db().run(move |c| engine::places::pool_by_key(c, &key)).await?;
    Ok(Reply::Json(pool_json(&p)))
}

async fn pool_update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("id").to_string();
    let name = ctx.params.get_nonempty("name").map(str::to_string);
    let desc = ctx.params.get("description").map(str::to_string);
    let p = ctx
        .db()
        .write(move |c| {
            let p = engine::places::pool_by_key(c, &key)?;
            engine::places::update_pool(c, &p, name.as_deref(), desc.as_deref())
        })
        .await?;
    Ok(Reply::Json(pool_json(&p)))
}

async fn pool_delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("id").to_string();
    ctx.db()
        .write(move |c| {
            let p = engine::places::pool_by_key(c, &key)?;
            engine::places::delete_pool(c, &p)
        })
        .await?;
    Ok(Reply::NoContent)
}
