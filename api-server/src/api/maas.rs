//! `maas/`: region-wide configuration.

use actix_web::http::StatusCode;

use crate::engine;
use crate::error;
use crate::error::Result;
use crate::handler_fn;
use crate::http::registry::{required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![Handler::new("MaasHandler", "maas/", Access::Authenticated, "Manage the MAAS server")
        .action(
            Action::new(Method::Get, Some("get_config"), "Get a configuration value", handler_fn!(get_config))
                .returns(Returns::AnyJson)
                .describe("Returns the JSON-encoded value of one configuration item.")
                .params(&[required(
                    "name",
                    "String",
                    "The name of the configuration item, e.g. maas_name or default_distro_series.",
                )]),
        )
        .action(
            Action::new(Method::Post, Some("set_config"), "Set a configuration value", handler_fn!(set_config))
                .returns(Returns::Text(200))
                .describe("Administrators only. The value is validated against the item's type.")
                .params(&[
                    required("name", "String", "The name of the configuration item."),
                    required("value", "String", "The value to set."),
                ]),
        )]
}

async fn get_config(ctx: Ctx) -> Result<Reply> {
    let admin = ctx.user()?.is_superuser;
    let name = ctx.params.required("name")?;
    let v = engine::config::get(ctx.db(), name, admin).await?;
    Ok(Reply::json(v))
}

async fn set_config(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let name = ctx.params.required("name")?;
    // An empty value is legitimate (clearing kernel_opts), so only absence is an error.
    let value = ctx.params.get("value").ok_or_else(|| error::Error::required("value"))?;
    engine::config::set(ctx.db(), name, value).await?;
    Ok(Reply::Text(StatusCode::OK, "OK".into()))
}
