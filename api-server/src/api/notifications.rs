//! `notifications/` and `notifications/{id}/`.

use serde_json::Value;

use crate::api::views::notification::notification_json;
use crate::api::views::user::user_json;
use crate::db;
use crate::db::files::{Notification, NotificationFields};
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Params;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

const CATEGORIES: &[&str] = &["error", "warning", "success", "info"];

pub fn handlers() -> Vec<Handler> {
    let fields = [
        optional("context", "String", "JSON object for message interpolation."),
        optional("category", "String", "error, warning, success or info (default info)."),
        optional("ident", "String", "Unique identifier for this notification."),
        optional("user", "String", "Username this notification is for."),
        optional("users", "Boolean", "For all users."),
        optional("admins", "Boolean", "For all administrators."),
    ];
    let mut create_params = vec![required("message", "String", "The message (may contain HTML).")];
    create_params.extend(fields);
    let mut update_params = vec![optional("message", "String", "The message.")];
    update_params.extend(fields);
    vec![
        Handler::new(
            "NotificationsHandler",
            "notifications/",
            Access::Authenticated,
            "Manage the collection of all the notifications in MAAS",
        )
        .action(
            Action::new(Method::Get, None, "List notifications", handler_fn!(list))
                .describe("Those addressed to the caller that the caller has not dismissed."),
        )
        .action(
            Action::new(Method::Post, None, "Create a notification", handler_fn!(create))
                .describe("Administrators only.")
                .params(&create_params),
        ),
        Handler::new(
            "NotificationHandler",
            "notifications/{id}/",
            Access::Authenticated,
            "Manage an individual notification",
        )
        .action(Action::new(Method::Get, None, "Read a notification", handler_fn!(read)))
        .action(Action::new(Method::Put, None, "Update a notification", handler_fn!(update)).params(&update_params))
        .action(Action::new(Method::Delete, None, "Delete a notification", handler_fn!(delete)))
        .action(
            Action::new(Method::Post, Some("dismiss"), "Dismiss a notification", handler_fn!(dismiss))
                .returns(Returns::Nothing(200)),
        ),
    ]
}

fn render_with_user(c: &mut db::DbConn, n: &Notification) -> Result<Value> {
    let u = match n.user_id {
        Some(id) => db::users::by_id(c, id)?.map(|u| user_json(&u)),
        None => None,
    };
    Ok(notification_json(n, u))
}

/// Reads the fields of a create or update, starting from `base`.
fn fields(c: &mut db::DbConn, p: &Params, base: NotificationFields) -> Result<NotificationFields> {
    let mut f = base;
    if let Some(m) = p.get("message") {
        f.message = m.to_string();
    }
    if f.message.trim().is_empty() {
        return Err(Error::required("message"));
    }
    if let Some(ctx) = p.get_nonempty("context") {
        match serde_json::from_str::<Value>(ctx) {
            Ok(Value::Object(_)) => f.context = ctx.to_string(),
            _ => return Err(Error::field("context", "context must be a JSON object.")),
        }
    }
    if let Some(cat) = p.get_nonempty("category") {
        if !CATEGORIES.contains(&cat) {
            return Err(Error::field(
                "category",
                format!("Select a valid choice. {cat} is not one of the available choices."),
            ));
        }
        f.category = cat.to_string();
    }
    if let Some(i) = p.get("ident") {
        f.ident = Some(i.to_string()).filter(|i| !i.is_empty());
    }
    if let Some(name) = p.get("user") {
        f.user_id = if name.is_empty() {
            None
        } else {
            Some(
                db::users::by_username(c, name)?
                    .ok_or_else(|| Error::field("user", format!("No such user: '{name}'.")))?
                    .id,
            )
        };
    }
    if let Some(v) = p.bool("users")? {
        f.for_users = v;
    }
    if let Some(v) = p.bool("admins")? {
        f.for_admins = v;
    }
    f.updated_at = db::now();
    Ok(f)
}

async fn list(ctx: Ctx) -> Result<Reply> {
    let u = ctx.user()?.clone();
    let v = ctx
        .db()
        .run(move |c| {
            let list = db::files::notifications_for(c, u.id, u.is_superuser)?;
            list.iter().map(|n| render_with_user(c, n)).collect::<Result<Vec<_>>>()
        })
        .await?;
    Ok(Reply::json(v))
}

async fn create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let p = ctx.params.clone();
    let v = ctx
        .db()
        .write(move |c| {
            let base = NotificationFields {
                ident: None,
                message: String::new(),
                context: "{}".into(),
                category: "info".into(),
                user_id: None,
                for_users: false,
                for_admins: false,
                dismissable: true,
                updated_at: db::now(),
            };
            let f = fields(c, &p, base)?;
            let n = db::files::notification_insert(c, &f, db::now())?;
            render_with_user(c, &n)
        })
        .await?;
    Ok(Reply::Json(v))
}

fn id_of(ctx: &Ctx) -> Result<i64> {
    ctx.path("id").parse().map_err(|_| Error::NotFound("Notification"))
}

/// A notification the caller may see (admins see all).
fn visible(c: &mut db::DbConn, id: i64, u: &db::users::User) -> Result<Notification> {
    let n = db::files::notification_get(c, id)?.ok_or(Error::NotFound("Notification"))?;
    let addressed = n.user_id == Some(u.id) || n.for_users || (n.for_admins && u.is_superuser);
    if u.is_superuser || addressed {
        Ok(n)
    } else {
        Err(Error::Forbidden("This notification is not addressed to you.".into()))
    }
}

async fn read(ctx: Ctx) -> Result<Reply> {
    let u = ctx.user()?.clone();
    let id = id_of(&ctx)?;
    let v = ctx
        .db()
        .run(move |c| {
            let n = visible(c, id, &u)?;
            render_with_user(c, &n)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = id_of(&ctx)?;
    let p = ctx.params.clone();
    let v = ctx
        .db()
        .write(move |c| {
            let n = db::files::notification_get(c, id)?.ok_or(Error::NotFound("Notification"))?;
            let base = NotificationFields {
                ident: n.ident.clone(),
                message: n.message.clone(),
                context: n.context.clone(),
                category: n.category.clone(),
                user_id: n.user_id,
                for_users: n.for_users,
                for_admins: n.for_admins,
                dismissable: n.dismissable,
                updated_at: n.updated_at,
            };
            let f = fields(c, &p, base)?;
            db::files::notification_update(c, id, &f)?;
            let n = db::files::notification_get(c, id)?.ok_or(Error::NotFound("Notification"))?;
            render_with_user(c, &n)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = id_of(&ctx)?;
    ctx.db()
        .write(move |c| {
            db::files::notification_get(c, id)?.ok_or(Error::NotFound("Notification"))?;
            db::files::notification_delete(c, id)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn dismiss(ctx: Ctx) -> Result<Reply> {
    let u = ctx.user()?.clone();
    let id = id_of(&ctx)?;
    ctx.db()
        .write(move |c| {
            let n = visible(c, id, &u)?;
            if !n.dismissable {
                return Err(Error::Conflict("This notification cannot be dismissed.".into()));
            }
            db::files::dismiss(c, id, u.id)
        })
        .await?;
    Ok(Reply::Empty(actix_web::http::StatusCode::OK))
}
