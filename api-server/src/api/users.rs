//! `users/` and `users/{username}/`.

use crate::db;
use crate::engine;
use crate::engine::accounts::UserInput;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

use crate::api::views::user::{user_json, user_json_for};

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new("UsersHandler", "users/", Access::Authenticated, "Manage the user accounts of this MAAS")
            .action(Action::new(Method::Get, None, "List users", handler_fn!(list)))
            .action(
                Action::new(Method::Post, None, "Create a MAAS user account", handler_fn!(create))
                    .describe("Administrators only. The new user gets one API token named 'MAAS consumer'.")
                    .params(&[
                        required("username", "String", "Identifier-style username for the new user."),
                        required("email", "String", "Email address for the new user."),
                        required("password", "String", "Password for the new user."),
                        required("is_superuser", "Boolean", "Whether the new user is to be an administrator."),
                    ]),
            )
            .action(
                Action::new(Method::Get, Some("whoami"), "Retrieve the logged-in user", handler_fn!(whoami))
                    .describe("Returns the user the request's credentials belong to; 401 for bad credentials."),
            ),
        Handler::new("UserHandler", "users/{username}/", Access::Authenticated, "Manage a user account")
            .action(Action::new(Method::Get, None, "Retrieve a user", handler_fn!(read)))
            .action(
                Action::new(Method::Delete, None, "Delete a user", handler_fn!(delete))
                    .describe("Administrators only. An administrator cannot delete their own account. A user who still owns machines, devices, IP reservations or IP ranges is refused unless transfer_resources_to names who gets them.")
                    .params(&[optional(
                        "transfer_resources_to",
                        "String",
                        "Username to receive the deleted user's resources.",
                    )]),
            )
            .action(
                Action::new(Method::Put, None, "Activate or deactivate a user", handler_fn!(update))
                    .describe(
                        "Administrators only; an Ironpool addition (MAAS does this in its web UI only). A deactivated \
                         user can no longer log in and their API tokens are refused (403).",
                    )
                    .params(&[required("is_active", "Boolean", "false deactivates the user, true reactivates them.")]),
            ),
    ]
}

async fn list(ctx: Ctx) -> Result<Reply> {
    let viewer = ctx.user()?;
    let users = ctx.db().run(db::users::list).await?;
    Ok(Reply::json(users.iter().map(|u| user_json_for(u, viewer)).collect::<Vec<_>>()))
}

async fn whoami(ctx: Ctx) -> Result<Reply> {
    Ok(Reply::json(user_json(ctx.user()?)))
}

async fn create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let p = &ctx.params;
    let is_superuser = match p.get_nonempty("is_superuser") {
        None => Err("This field is required.".to_string()),
        Some(v) => engine::parse_bool(v).ok_or(format!("'{v}' is not a valid boolean; use true or false.")),
    };
    let input = UserInput {
        username: p.get("username").unwrap_or("").trim().to_string(),
        email: p.get("email").unwrap_or("").trim().to_string(),
        password: p.get("password").unwrap_or("").to_string(),
        is_superuser: *is_superuser.as_ref().unwrap_or(&false),
    };
    // Report every bad field at once, as MAAS's forms do.
    if let Err(msg) = is_superuser {
        let mut errors = engine::accounts::field_errors(&input);
        errors.insert("is_superuser".into(), vec![msg]);
        return Err(Error::Validation(errors));
    }
    let user = engine::accounts::create_user(ctx.db(), input).await?;
    Ok(Reply::json(user_json(&user)))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    let viewer = ctx.user()?;
    let name = ctx.path("username").to_string();
    let user = ctx.db().run(move |c| db::users::by_username(c, &name)).await?.ok_or(Error::NotFound("User"))?;
    Ok(Reply::json(user_json_for(&user, viewer)))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    let actor = ctx.admin()?.clone();
    let to = ctx.params.get_nonempty("transfer_resources_to").map(str::to_string);
    let name = ctx.path("username").to_string();
    ctx.db().write(move |c| engine::accounts::delete_user(c, &actor, &name, to.as_deref())).await?;
    Ok(Reply::NoContent)
}

async fn update(ctx: Ctx) -> Result<Reply> {
    let actor = ctx.admin()?.clone();
    let name = ctx.path("username").to_string();
    let Some(v) = ctx.params.get_nonempty("is_active") else {
        // Nothing else is editable here; say so rather than answer 200 for a no-op.
        return Err(Error::required("is_active"));
    };
    let active = engine::parse_bool(v)
        .ok_or_else(|| Error::field("is_active", format!("'{v}' is not a valid boolean; use true or false.")))?;
    let user = ctx.db().write(move |c| engine::accounts::set_active(c, &actor, &name, active)).await?;
    Ok(Reply::json(user_json(&user)))
}
