//! `account/prefs/sshkeys/` and `account/prefs/sslkeys/`: the caller's keys.

use actix_web::http::StatusCode;

use crate::db;
use crate::engine;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

use crate::api::views::sshkey::{ssh_json, ssl_json};

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new(
            "SSHKeysHandler",
            "account/prefs/sshkeys/",
            Access::Authenticated,
            "Manage the SSH keys of the logged-in user",
        )
        .action(Action::new(Method::Get, None, "List SSH keys", handler_fn!(ssh_list)))
        .action(
            Action::new(
                Method::Post,
                None,
                "Add a new SSH key to the requesting or supplied user's account",
                handler_fn!(ssh_create),
            )
            .returns(Returns::ObjectStatus(201))
            .describe("The key is validated; it is installed on machines the user deploys.")
            .params(&[
                required("key", "String", "A public SSH key, as found in ~/.ssh/id_ed25519.pub."),
                optional("user", "String", "Administrators only: the user to add the key for."),
            ]),
        )
        .action(
            Action::new(Method::Post, Some("import"), "Import SSH keys", handler_fn!(ssh_import))
                .returns(Returns::List)
                .describe("Imports the public keys of a Launchpad (lp:<user>, or a bare <user>) or GitHub (gh:<user>) account; the keys record their keysource. The sites are configurable (launchpad_url, github_api_url).")
                .params(&[required("keysource", "String", "lp:<user> or gh:<user>.")]),
        ),
        Handler::new("SSHKeyHandler", "account/prefs/sshkeys/{id}/", Access::Authenticated, "Manage an SSH key")
            .action(Action::new(Method::Get, None, "Retrieve an SSH key", handler_fn!(ssh_read)))
            .action(Action::new(Method::Delete, None, "Delete an SSH key", handler_fn!(ssh_delete))),
        Handler::new(
            "SSLKeysHandler",
            "account/prefs/sslkeys/",
            Access::Authenticated,
            "Manage the SSL keys of the logged-in user",
        )
        .action(Action::new(Method::Get, None, "List SSL keys", handler_fn!(ssl_list)))
        .action(
            Action::new(
                Method::Post,
                None,
                "Add a new SSL key to the requesting user's account",
                handler_fn!(ssl_create),
            )
            .returns(Returns::ObjectStatus(201))
            .params(&[required("key", "String", "An SSL certificate in PEM format.")]),
        ),
        Handler::new("SSLKeyHandler", "account/prefs/sslkeys/{id}/", Access::Authenticated, "Manage an SSL key")
            .action(Action::new(Method::Get, None, "Retrieve an SSL key", handler_fn!(ssl_read)))
            .action(Action::new(Method::Delete, None, "Delete an SSL key", handler_fn!(ssl_delete))),
    ]
}

/// The numeric `{id}` of the URL; anything else cannot name a key.
fn key_id(ctx: &Ctx, model: &'static str) -> Result<i64> {
    ctx.path("id").parse().map_err(|_| Error::NotFound(model))
}

async fn ssh_list(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let list = ctx.db().run(move |c| db::sshkeys::ssh_list(c, uid)).await?;
    Ok(Reply::json(list.iter().map(ssh_json).collect::<Vec<_>>()))
}

async fn ssh_create(ctx: Ctx) -> Result<Reply> {
    let me = ctx.user()?;
    let key = engine::sshkeys::validate_ssh_key(ctx.params.get("key").unwrap_or(""))?;
    let target = match ctx.params.get_nonempty("user") {
        Some(name) if name != me.username => {
            ctx.admin()?;
            let name = name.to_string();
            ctx.db()
                .run(move |c| db::users::by_username(c, &name))
                .await?
                .ok_or_else(|| Error::field("user", "No such user."))?
                .id
        }
        _ => me.id,
    };
    let k = ctx.db().write(move |c| db::sshkeys::ssh_insert(c, target, &key, None, db::now())).await?;
    Ok(Reply::JsonStatus(StatusCode::CREATED, ssh_json(&k)))
}

async fn ssh_import(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let src = engine::sshkeys::KeySource::parse(ctx.params.get("keysource"))?;
    let cfg = &ctx.state.config;
    let sources = engine::sshkeys::KeySources {
        launchpad_url: cfg.launchpad_url.clone(),
        github_url: cfg.github_api_url.clone(),
    };
    // Fetched before the transaction: no database connection waits on the network.
    let fetched = engine::sshkeys::fetch_keys(&sources, &src).await?;
    let keys = ctx.db().write(move |c| engine::sshkeys::store_imported(c, uid, &src, &fetched)).await?;
    Ok(Reply::json(keys.iter().map(ssh_json).collect::<Vec<_>>()))
}

async fn ssh_read(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let id = key_id(&ctx, "SSHKey")?;
    let k = ctx.db().run(move |c| db::sshkeys::ssh_get(c, id)).await?.ok_or(Error::NotFound("SSHKey"))?;
    if k.user_id != uid {
        return Err(Error::Forbidden("Can't get a key you don't own.".into()));
    }
    Ok(Reply::json(ssh_json(&k)))
}

async fn ssh_delete(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let id = key_id(&ctx, "SSHKey")?;
    ctx.db()
        .write(move |c| {
            let k = db::sshkeys::ssh_get(c, id)?.ok_or(Error::NotFound("SSHKey"))?;
            if k.user_id != uid {
                return Err(Error::Forbidden("Can't delete a key you don't own.".into()));
            }
            db::sshkeys::ssh_delete(c, id)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn ssl_list(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let list = ctx.db().run(move |c| db::sshkeys::ssl_list(c, uid)).await?;
    Ok(Reply::json(list.iter().map(ssl_json).collect::<Vec<_>>()))
}

async fn ssl_create(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let key = engine::sshkeys::validate_ssl_key(ctx.params.get("key").unwrap_or(""))?;
    let k = ctx.db().write(move |c| db::sshkeys::ssl_insert(c, uid, &key, db::now())).await?;
    Ok(Reply::JsonStatus(StatusCode::CREATED, ssl_json(&k)))
}

async fn ssl_read(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let id = key_id(&ctx, "SSLKey")?;
    let k = ctx.db().run(move |c| db::sshkeys::ssl_get(c, id)).await?.ok_or(Error::NotFound("SSLKey"))?;
    if k.user_id != uid {
        return Err(Error::Forbidden("Can't get a key you don't own.".into()));
    }
    Ok(Reply::json(ssl_json(&k)))
}

async fn ssl_delete(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let id = key_id(&ctx, "SSLKey")?;
    ctx.db()
        .write(move |c| {
            let k = db::sshkeys::ssl_get(c, id)?.ok_or(Error::NotFound("SSLKey"))?;
            if k.user_id != uid {
                return Err(Error::Forbidden("Can't delete a key you don't own.".into()));
            }
            db::sshkeys::ssl_delete(c, id)
        })
        .await?;
    Ok(Reply::NoContent)
}
