//! `/MAAS/r/settings/users` (MAAS's Settings → Users): the region's user
//! accounts with their email, administrator flag, whether they may log in,
//! their last login and how many machines each owns. Administrators only,
//! as the page shows every user's email (the API shows other users' emails
//! to administrators alone); they add users, activate or deactivate them,
//! and delete them.
//!
//! Reading is two queries whatever the numbers: the users and one narrow
//! scan of the machines' owners (`db::nodes::count_by`). Changes are the
//! API's `users/` actions, so its rules and words apply: an administrator
//! cannot delete or deactivate their own account, a user who still owns
//! machines or addresses is deleted only with `transfer_resources_to`,
//! usernames, emails and passwords are checked. The API's update changes
//! `is_active` only, so that is what the edit form offers.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::api::views::enc;
use crate::db;
use crate::db::nodes::{CountBy, NodeFilter};
use crate::db::users::User;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, csrf};
use crate::ui::networks::select;
use crate::ui::respond::html as page_response;
use crate::ui::viewer::Viewer;

/// The users, each with the number of machines they own.
async fn users(state: &Arc<AppState>) -> Result<Vec<(User, i64)>> {
    state
        .db
        .run(|c| {
            let f = NodeFilter { node_types: vec![NodeType::Machine], ..Default::default() };
            let counts = db::nodes::count_by(c, &f, CountBy::Owner)?;
            Ok(db::users::list(c)?
                .into_iter()
                .map(|u| {
                    let n = counts.get(&u.id).copied().unwrap_or(0);
                    (u, n)
                })
                .collect())
        })
        .await
}

/// `GET /MAAS/r/settings/users` (and the answer to a change).
pub async fn list(state: &Arc<AppState>, viewer: &Viewer, notice: Option<Notice>) -> Result<HttpResponse> {
    // The API's words for a non-admin (403): other users' emails are
    // administrators' business.
    engine::access::require_superuser(&viewer.user)?;
    let rows = users(state).await?;
    let status = Notice::status(&notice);
    Ok(page_response(status, layout::page(viewer, "Users", "settings", &[], render(viewer, &rows, &notice))))
}

fn machines_link(username: &str) -> String {
    format!("/MAAS/r/machines?q={}", enc(&format!("owner:{username}")))
}

fn render(viewer: &Viewer, rows: &[(User, i64)], n: &Option<Notice>) -> Markup {
    let is_admin = match n {
        Some(Notice::Failed { form, values, .. }) if form == "create" => values.get("is_superuser").is_some(),
        _ => false,
    };
    html! {
        (crate::ui::settings::tabs(viewer, "users"))
        h1 { "Users " span.count.muted { (rows.len()) } }
        (forms::banner(n))
        section.card {
            table.users {
                thead {
                    tr {
                        th scope="col" { "Username" }
                        th scope="col" { "Email" }
                        th scope="col" { "Role" }
                        th scope="col" { "Status" }
                        th scope="col" { "Last login" }
                        th scope="col" .num { "Machines" }
                        th scope="col" { span.visually-hidden { "Actions" } }
                    }
                }
                tbody {
                    @for (u, machines) in rows {
                        @let edit = format!("edit:{}", u.username);
                        tr data-name=(u.username) {
                            td { (u.username) @if u.id == viewer.user.id { " " span.tag { "you" } } }
                            td { (u.email) }
                            td { @if u.is_superuser { "Administrator" } @else { "User" } }
                            td { @if u.is_active { "Active" } @else { "Deactivated" } }
                            td { @match &u.last_login { Some(t) => { (t.format("%Y-%m-%d %H:%M UTC")) } None => { span.muted { "never" } } } }
                            td.num { a href=(machines_link(&u.username)) { (machines) } }
                            td.row-actions {
                                details open[forms::is_failed(n, &edit)] {
                                    summary { "Edit" }
                                    form.stacked method="post" action="/MAAS/r/settings/users/edit" {
                                        (csrf(viewer))
                                        input type="hidden" name="key" value=(u.username);
                                        (forms::error_in(n, &edit))
                                        @let active = match n {
                                            Some(Notice::Failed { form, values, .. }) if *form == edit => values.get("is_active").is_some(),
                                            _ => u.is_active,
                                        };
                                        label.check { input type="checkbox" name="is_active" value="true" checked[active]; " Active (may log in and use the API)" }
                                        p.sub { "Email and role are set when the user is added; the API changes nothing else." }
                                        button.primary type="submit" { "Save" }
                                    }
                                }
                                form.inline method="post" action="/MAAS/r/settings/users/delete" {
                                    (csrf(viewer))
                                    input type="hidden" name="key" value=(u.username);
                                    (forms::error_in(n, &format!("delete:{}", u.username)))
                                    button.danger type="submit" aria-label={ "Delete " (u.username) } { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #create {
            h2 { "Add user" }
            form.stacked method="post" action="/MAAS/r/settings/users/create" {
                (csrf(viewer))
                (forms::error_in(n, "create"))
                label { "Username" input type="text" name="username" value=(forms::value(n, "create", "username", "")) autocomplete="off" required; }
                label { "Email" input type="text" name="email" inputmode="email" value=(forms::value(n, "create", "email", "")) required; }
                // A password is never sent back into the page, even after a refusal.
                label { "Password" input type="password" name="password" autocomplete="new-password" required; }
                label.check { input type="checkbox" name="is_superuser" value="true" checked[is_admin]; " Administrator" }
                button.primary type="submit" { "Add user" }
            }
        }
    }
}

/// The confirmation of a deletion: who gets the user's machines and
/// addresses, if anyone (the API refuses to delete a user who still owns
/// some, with its words, unless they go to someone).
fn confirm_delete(viewer: &Viewer, rows: &[(User, i64)], username: &str) -> Markup {
    let mut others = vec![(String::new(), "(nobody: refuse if they own anything)".to_string())];
    others.extend(
        rows.iter().filter(|(u, _)| u.username != username).map(|(u, _)| (u.username.clone(), u.username.clone())),
    );
    let machines = rows.iter().find(|(u, _)| u.username == username).map(|(_, m)| *m).unwrap_or(0);
    html! {
        h1 { "Delete user " (username) "?" }
        section.card {
            p { "Their API keys, SSH keys and sessions go with them. They own " (machines) " machine(s)." }
            form method="post" action="/MAAS/r/settings/users/delete" {
                (csrf(viewer))
                input type="hidden" name="key" value=(username);
                input type="hidden" name="confirm" value="1";
                label { "Give their machines, devices and IP reservations to" (select("transfer_resources_to", &others, "")) }
                div.buttons {
                    button.primary.danger type="submit" #confirm { "Delete user " (username) }
                    a.secondary href="/MAAS/r/settings/users" { "Cancel" }
                }
            }
        }
    }
}

/// `POST /MAAS/r/settings/users/{create|edit|delete}`: administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    what: &str,
) -> Result<HttpResponse> {
    let mut p = forms::admin_post(req, payload, viewer).await?;
    let text = |k: &str| p.get(k).unwrap_or("").to_string();
    let notice = match what {
        "create" => {
            // An unticked box is absent from the form: not an administrator.
            let admin = if p.get("is_superuser").is_some() { "true" } else { "false" };
            let params = vec![
                ("username".to_string(), text("username")),
                ("email".to_string(), text("email")),
                ("password".to_string(), text("password")),
                ("is_superuser".to_string(), admin.to_string()),
            ];
            let done = format!("Added user {}.", text("username").trim());
            // The typed password is not kept for the form.
            p.remove_where(|k| k == "password");
            let call = (Method::Post, "users/".to_string(), None, params);
            forms::run(state, viewer, call, done, "create", &p).await?
        }
        "edit" => {
            let key = forms::key(&p)?;
            let active = if p.get("is_active").is_some() { "true" } else { "false" };
            let call =
                (Method::Put, format!("users/{}/", enc(&key)), None, vec![("is_active".to_string(), active.into())]);
            let done = format!("Saved user {key}.");
            forms::run(state, viewer, call, done, &format!("edit:{key}"), &p).await?
        }
        "delete" => {
            let key = forms::key(&p)?;
            if p.get("confirm").is_none() {
                let rows = users(state).await?;
                if !rows.iter().any(|(u, _)| u.username == key) {
                    return Err(Error::NotFound("User"));
                }
                let body = confirm_delete(viewer, &rows, &key);
                return Ok(page_response(StatusCode::OK, layout::page(viewer, "Users", "settings", &[], body)));
            }
            let params = p
                .get_nonempty("transfer_resources_to")
                .map(|to| vec![("transfer_resources_to".to_string(), to.to_string())])
                .unwrap_or_default();
            let call = (Method::Delete, format!("users/{}/", enc(&key)), None, params);
            forms::run(state, viewer, call, format!("Deleted user {key}."), &format!("delete:{key}"), &p).await?
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/settings/users/{what}."))),
    };
    list(state, viewer, Some(notice)).await
}
