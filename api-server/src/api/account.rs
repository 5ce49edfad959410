//! `account/`: the caller's API tokens.

use actix_web::http::StatusCode;

use crate::db;
use crate::engine;
use crate::engine::accounts::DEFAULT_TOKEN_NAME;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![Handler::new("AccountHandler", "account/", Access::Authenticated, "Manage the current logged-in user")
        .action(
            Action::new(
                Method::Post,
                Some("create_authorisation_token"),
                "Create an authorisation OAuth token",
                handler_fn!(create_token),
            )
            .describe("Creates an OAuth consumer and token for the caller and returns its keys.")
            .params(&[optional("name", "String", "Name of the token (the consumer name).")]),
        )
        .action(
            Action::new(
                Method::Post,
                Some("delete_authorisation_token"),
                "Delete an authorisation OAuth token",
                handler_fn!(delete_token),
            )
            .returns(Returns::Nothing(204))
            .describe("Deletes one of the caller's tokens and its consumer.")
            .params(&[required("token_key", "String", "The key of the token to delete.")]),
        )
        .action(
            Action::new(
                Method::Get,
                Some("list_authorisation_tokens"),
                "List authorisation tokens",
                handler_fn!(list_tokens),
            )
            .returns(Returns::List)
            .describe("Lists the caller's tokens as name and consumer_key:token_key:token_secret."),
        )
        .action(
            Action::new(
                Method::Post,
                Some("update_token_name"),
                "Modify the consumer name of an authorisation OAuth token",
                handler_fn!(rename_token),
            )
            .returns(Returns::Text(202))
            .describe("Renames one of the caller's tokens.")
            .params(&[
                required("token", "String", "The token key, or the whole consumer_key:token_key:token_secret."),
                required("name", "String", "The new name."),
            ]),
        )]
}

async fn create_token(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let name = ctx.params.get_nonempty("name").unwrap_or(DEFAULT_TOKEN_NAME).to_string();
    let t = ctx.db().write(move |c| engine::accounts::create_token(c, uid, &name)).await?;
    Ok(Reply::json(crate::api::views::account::Credentials::of(&t)))
}

async fn delete_token(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let key = ctx.params.required("token_key")?.to_string();
    ctx.db()
        .write(move |c| {
            let t = db::tokens::by_token_key(c, uid, &key)?.ok_or(Error::NotFound("Token"))?;
            db::tokens::delete(c, t.id)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn list_tokens(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let all = ctx.db().run(move |c| db::tokens::for_user(c, uid)).await?;
    Ok(Reply::json(all.iter().map(crate::api::views::account::TokenEntry::of).collect::<Vec<_>>()))
}

async fn rename_token(ctx: Ctx) -> Result<Reply> {
    let uid = ctx.user()?.id;
    let token = ctx.params.required("token")?.to_string();
    let name = ctx.params.required("name")?.to_string();
    ctx.db()
        .write(move |c| {
            let t = engine::accounts::find_own_token(c, uid, &token)?;
            db::tokens::rename(c, t.id, &name)
        })
        .await?;
    Ok(Reply::Text(StatusCode::ACCEPTED, "Accepted".into()))
}
