//! `/MAAS/r/account/prefs`: the viewer's own SSH keys (add, delete) and API
//! keys (create — the secret is shown once, on the page that answers the
//! creation — and revoke). Every change is the API's action on
//! `account/prefs/sshkeys/` or `account/` with the viewer as the caller.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::layout::{self, csrf};
use crate::ui::respond::{form, html as page_response};
use crate::ui::viewer::Viewer;

/// What the page says after a change.
pub enum Notice {
    Done(String),
    Failed(String),
    /// A new API key: shown this once.
    NewKey {
        name: String,
        key: String,
    },
}

pub async fn page(
    _req: &HttpRequest,
    state: &Arc<AppState>,
    viewer: &Viewer,
    notice: Option<Notice>,
) -> Result<HttpResponse> {
    let keys = calls::json(state, viewer, Method::Get, "account/prefs/sshkeys/", None, vec![]).await?;
    let tokens = calls::json(state, viewer, Method::Get, "account/", Some("list_authorisation_tokens"), vec![]).await?;
    let status = match &notice {
        Some(Notice::Failed(_)) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    Ok(page_response(status, layout::page(viewer, "Account", "account", &[], render(viewer, &keys, &tokens, notice))))
}

fn render(viewer: &Viewer, keys: &Value, tokens: &Value, notice: Option<Notice>) -> Markup {
    let empty = Vec::new();
    let keys = keys.as_array().unwrap_or(&empty);
    let tokens = tokens.as_array().unwrap_or(&empty);
    html! {
        h1 { "Account: " (viewer.user.username) }
        @match &notice {
            Some(Notice::Done(m)) => { p.notice role="status" { (m) } }
            Some(Notice::Failed(m)) => { p.error role="alert" { (m) } }
            Some(Notice::NewKey { name, key }) => {
                section.card.newkey role="status" {
                    h2 { "New API key “" (name) "”" }
                    p { "Copy it now: it will not be shown again." }
                    pre #new-api-key { (key) }
                }
            }
            None => {}
        }
        section.card #ssh-keys {
            h2 { "SSH keys" }
            p.muted { "Deployed machines accept these keys for the default user." }
            @if keys.is_empty() {
                p.empty-state { "No SSH keys yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Key" } th scope="col" { "Source" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for k in keys {
                            @let id = k.get("id").and_then(Value::as_i64).unwrap_or(0);
                            @let text = k.get("key").and_then(Value::as_str).unwrap_or("");
                            tr {
                                td { code.key { (summary(text)) } }
                                td { (k.get("keysource").and_then(Value::as_str).unwrap_or("")) }
                                td {
                                    form.inline method="post" action="/MAAS/r/account/prefs/delete-sshkey" {
                                        (csrf(viewer))
                                        input type="hidden" name="id" value=(id);
                                        button.danger type="submit" aria-label={ "Delete key " (summary(text)) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/MAAS/r/account/prefs/add-sshkey" {
                (csrf(viewer))
                label for="key" { "Public key" }
                textarea #key name="key" rows="3" required placeholder="ssh-ed25519 AAAA… you@host" {}
                button.primary type="submit" { "Add SSH key" }
            }
        }
        section.card #api-keys {
            h2 { "API keys" }
            @if tokens.is_empty() {
                p.empty-state { "No API keys." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for t in tokens {
                            @let whole = t.get("token").and_then(Value::as_str).unwrap_or("");
                            // consumer_key:token_key:token_secret — the secret is never shown again.
                            @let token_key = whole.split(':').nth(1).unwrap_or("");
                            tr {
                                td { (t.get("name").and_then(Value::as_str).unwrap_or("")) }
                                td { code { (token_key) ":…" } }
                                td {
                                    form.inline method="post" action="/MAAS/r/account/prefs/revoke-token" {
                                        (csrf(viewer))
                                        input type="hidden" name="token_key" value=(token_key);
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/MAAS/r/account/prefs/create-token" {
                (csrf(viewer))
                label for="token-name" { "Name" }
                input #token-name type="text" name="name" placeholder="e.g. laptop CLI";
                button.primary type="submit" { "Generate API key" }
            }
        }
    }
}

/// An SSH key as a line that fits: type, the key's end, comment.
fn summary(key: &str) -> String {
    let parts: Vec<&str> = key.split_whitespace().collect();
    match parts.as_slice() {
        [kind, body, rest @ ..] => {
            let tail: String = body.chars().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
            format!("{kind} …{tail} {}", rest.join(" "))
        }
        _ => key.to_string(),
    }
}

/// `POST /MAAS/r/account/prefs/{what}`.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    what: &str,
) -> Result<HttpResponse> {
    let p = form(req, payload).await?;
    viewer.check_csrf(&p)?;
    let get = |k: &str| p.get(k).unwrap_or("").to_string();
    let outcome = match what {
        "add-sshkey" => {
            calls::call(state, viewer, Method::Post, "account/prefs/sshkeys/", None, vec![("key".into(), get("key"))])
                .await
                .map(|_| Notice::Done("SSH key added.".into()))
        }
        "delete-sshkey" => {
            let id = get("id");
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
                return Err(Error::field("id", "Choose a key to delete."));
            }
            calls::call(state, viewer, Method::Delete, &format!("account/prefs/sshkeys/{id}/"), None, vec![])
                .await
                .map(|_| Notice::Done("SSH key deleted.".into()))
        }
        "create-token" => {
            let name = get("name");
            let params = if name.trim().is_empty() { vec![] } else { vec![("name".to_string(), name)] };
            match calls::json(state, viewer, Method::Post, "account/", Some("create_authorisation_token"), params).await
            {
                Ok(v) => {
                    let f = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    Ok(Notice::NewKey {
                        name: f("name"),
                        key: format!("{}:{}:{}", f("consumer_key"), f("token_key"), f("token_secret")),
                    })
                }
                Err(e) => Err(e),
            }
        }
        "revoke-token" => calls::call(
            state,
            viewer,
            Method::Post,
            "account/",
            Some("delete_authorisation_token"),
            vec![("token_key".into(), get("token_key"))],
        )
        .await
        .map(|_| Notice::Done("API key revoked.".into())),
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/account/prefs/{what}."))),
    };
    let notice = match outcome {
        Ok(n) => n,
        // The API's refusal (an invalid key, a foreign key) is shown on the page.
        Err(e @ (Error::Validation(_) | Error::BadRequest(_) | Error::NotFound(_) | Error::Conflict(_))) => {
            Notice::Failed(crate::ui::respond::message(&e))
        }
        Err(e) => return Err(e),
    };
    page(req, state, viewer, Some(notice)).await
}
