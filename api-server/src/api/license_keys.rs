//! `license-keys/` and `license-key/{osystem}/{distro_series}` (MAAS's
//! `LicenseKeysHandler`, `LicenseKeyHandler`): every user reads, admins
//! write.

use serde_json::Value;

use crate::api::views::license_key::license_key_json;
use crate::engine::license_keys::LicenseKeyInput;
use crate::error::Result;
use crate::handler_fn;
use crate::http::params::Form;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;
use crate::{db, engine};

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new("LicenseKeysHandler", "license-keys/", Access::Authenticated, "Manage the license keys")
            .action(Action::new(Method::Get, None, "List license keys", handler_fn!(list)))
            .action(
                Action::new(Method::Post, None, "Define a license key", handler_fn!(create))
                    .describe(
                        "Administrators only. distro_series may be given as os/series, in which case osystem \
                         may be left out.",
                    )
                    .params(&[
                        required("osystem", "String", "Operating system that the key belongs to."),
                        required("distro_series", "String", "OS release that the key belongs to."),
                        required("license_key", "String", "License key for osystem/distro_series combo."),
                    ]),
            ),
        Handler::new(
            "LicenseKeyHandler",
            "license-key/{osystem}/{distro_series}",
            Access::Authenticated,
            "Manage a license key",
        )
        .describe("The URL has no trailing slash, as in MAAS.")
        .action(Action::new(Method::Get, None, "Read license key", handler_fn!(read)))
        .action(
            Action::new(Method::Put, None, "Update license key", handler_fn!(update))
                .describe("Administrators only.")
                .params(&[
                    optional("osystem", "String", "Operating system that the key belongs to."),
                    optional("distro_series", "String", "OS release, as os/series."),
                    optional("license_key", "String", "License key for osystem/distro_series combo."),
                ]),
        )
        .action(
            Action::new(Method::Delete, None, "Delete license key", handler_fn!(delete))
                .describe("Administrators only. Deleting a key that does not exist is not an error."),
        ),
    ]
}

/// The fields as sent: absent stays `None`.
fn input(f: &dyn Form) -> LicenseKeyInput {
    LicenseKeyInput {
        osystem: f.value("osystem").map(str::to_string),
        distro_series: f.value("distro_series").map(str::to_string),
        license_key: f.value("license_key").map(str::to_string),
    }
}

/// What `license-keys/` create takes: MAAS's handler rewrites the fields
/// before its form sees them, `distro_series=windows/win2012` naming the
/// osystem when it is absent and `osystem=windows&distro_series=win2012`
/// becoming `windows/win2012`.
fn create_input(f: &dyn Form) -> LicenseKeyInput {
    let mut i = input(f);
    if let Some(series) = i.distro_series.clone() {
        match (series.split_once('/'), &i.osystem) {
            (Some((os, _)), None) => i.osystem = Some(os.to_string()),
            (None, Some(os)) => i.distro_series = Some(format!("{os}/{series}")),
            _ => {}
        }
    }
    i
}

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let keys = ctx.db().run(db::license_keys::all).await?;
    Ok(Reply::json(keys.iter().map(license_key_json).collect::<Vec<Value>>()))
}

async fn create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let i = create_input(&ctx.params);
    let k = ctx.db().write(move |c| engine::license_keys::create(c, &i)).await?;
    Ok(Reply::Json(license_key_json(&k)))
}

fn key_path(ctx: &Ctx) -> (String, String) {
    (ctx.path("osystem").to_string(), ctx.path("distro_series").to_string())
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let (os, series) = key_path(&ctx);
    let k = ctx.db().run(move |c| engine::license_keys::get(c, &os, &series)).await?;
    Ok(Reply::Json(license_key_json(&k)))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let (os, series) = key_path(&ctx);
    let i = input(&ctx.params);
    let k = ctx.db().write(move |c| engine::license_keys::update(c, &os, &series, &i)).await?;
    Ok(Reply::Json(license_key_json(&k)))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let (os, series) = key_path(&ctx);
    ctx.db().write(move |c| engine::license_keys::delete(c, &os, &series)).await?;
    Ok(Reply::NoContent)
}
