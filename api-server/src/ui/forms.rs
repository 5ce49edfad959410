//! What the administrators' forms on the list pages (zones, pools, tags,
//! domains, settings) share: reading a POST (CSRF, then administrators
//! only), turning the API's answer into a notice, a delete confirmation,
//! and showing a refusal inside the form that caused it with what was typed
//! kept, so a mistake is corrected rather than retyped.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use maud::{html, Markup};

use crate::engine;
use crate::error::{Error, Result};
use crate::http::params::Params;
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::layout::csrf;
use crate::ui::respond::{form, message};
use crate::ui::viewer::Viewer;

/// What a list page says after a change.
pub enum Notice {
    Done(String),
    /// The API refused: its words, shown in the form `form` (`create`,
    /// `edit:{key}`), which is filled with `values` again.
    Failed {
        form: String,
        message: String,
        values: Params,
    },
}

impl Notice {
    /// 400 after a refusal (as the account page), 200 otherwise.
    pub fn status(n: &Option<Notice>) -> StatusCode {
        match n {
            Some(Notice::Failed { .. }) => StatusCode::BAD_REQUEST,
            _ => StatusCode::OK,
        }
    }

    /// The refusal if it belongs to the form `id`.
    fn failed_in<'a>(n: &'a Option<Notice>, id: &str) -> Option<(&'a str, &'a Params)> {
        match n {
            Some(Notice::Failed { form, message, values }) if form == id => Some((message.as_str(), values)),
            _ => None,
        }
    }
}

/// Reads an administrator's POST: the CSRF token first (nothing is parsed
/// into an action without it), then the viewer's rights with the API's
/// words, so a non-admin's POST is a 403 before any API call.
pub async fn admin_post(req: &HttpRequest, payload: web::Payload, viewer: &Viewer) -> Result<Params> {
    let p = form(req, payload).await?;
    viewer.check_csrf(&p)?;
    engine::access::require_superuser(&viewer.user)?;
    Ok(p)
}

/// Runs one API action for a form: done with `done`, or the API's refusal
/// of what was typed (validation, a rule such as "the default zone cannot
/// be deleted", a vanished object) shown in form `form_id`. Anything else
/// (an internal error) is the error page.
pub async fn run(
    state: &Arc<AppState>,
    viewer: &Viewer,
    call: (Method, String, Option<&str>, Vec<(String, String)>),
    done: String,
    form_id: &str,
    values: &Params,
) -> Result<Notice> {
    let (method, rel, op, params) = call;
    match calls::call(state, viewer, method, &rel, op, params).await {
        Ok(_) => Ok(Notice::Done(done)),
        Err(e) => refused(e, form_id, values),
    }
}

/// The API's refusal as a notice for form `form_id`, or the error itself
/// when it is not about what was typed.
pub fn refused(e: Error, form_id: &str, values: &Params) -> Result<Notice> {
    match e {
        // The object is gone (deleted meanwhile): its row and form are not
        // on the page any more, so the words go to the top of the page.
        e @ Error::NotFound(_) => {
            Ok(Notice::Failed { form: String::new(), message: message(&e), values: values.clone() })
        }
        e @ (Error::Validation(_) | Error::BadRequest(_) | Error::Conflict(_)) => {
            Ok(Notice::Failed { form: form_id.to_string(), message: message(&e), values: values.clone() })
        }
        e => Err(e),
    }
}

/// The banner at the top of a page: what was done, or a refusal that
/// belongs to no form.
pub fn banner(n: &Option<Notice>) -> Markup {
    html! {
        @match n {
            Some(Notice::Done(m)) => { p.notice role="status" { (m) } }
            Some(Notice::Failed { form, message, .. }) if form.is_empty() => { p.error role="alert" { (message) } }
            _ => {}
        }
    }
}

/// The refusal inside form `id`, if it was this form's.
pub fn error_in(n: &Option<Notice>, id: &str) -> Markup {
    html! {
        @if let Some((m, _)) = Notice::failed_in(n, id) { p.error role="alert" { (m) } }
    }
}

/// Whether form `id` is the one that was refused (an edit form opens again).
pub fn is_failed(n: &Option<Notice>, id: &str) -> bool {
    Notice::failed_in(n, id).is_some()
}

/// What field `field` of form `id` shows: what was typed if this form was
/// refused, `current` otherwise.
pub fn value(n: &Option<Notice>, id: &str, field: &str, current: &str) -> String {
    match Notice::failed_in(n, id) {
        Some((_, values)) => values.get(field).unwrap_or("").to_string(),
        None => current.to_string(),
    }
}

/// The page asking to confirm a deletion: the same form again with
/// `confirm`, so one stray click deletes nothing.
pub fn confirm_delete(viewer: &Viewer, what: &str, action: &str, key: &str, back: &str, note: &str) -> Markup {
    html! {
        h1 { "Delete " (what) "?" }
        section.card {
            @if !note.is_empty() { p { (note) } }
            form method="post" action=(action) {
                (csrf(viewer))
                input type="hidden" name="key" value=(key);
                input type="hidden" name="confirm" value="1";
                div.buttons {
                    button.primary.danger type="submit" #confirm { "Delete " (what) }
                    a.secondary href=(back) { "Cancel" }
                }
            }
        }
    }
}

/// The `key` field every edit and delete form carries (which object).
pub fn key(p: &Params) -> Result<String> {
    p.get_nonempty("key").map(str::to_string).ok_or_else(|| Error::field("key", "Choose what to change."))
}
