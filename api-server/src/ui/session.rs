//! Logging in and out, the session cookie, and the CSRF check.
//!
//! - `GET /MAAS/r/login` shows the form and sets a pre-login CSRF cookie
//!   (`csrftoken`, Django's name, as MAAS); the form echoes it, so a login
//!   cannot be forged from another site (login CSRF).
//! - `POST /MAAS/r/login` checks `username`/`password` with the API's
//!   accounts and login limiter (`engine::accounts::authenticate`: argon2,
//!   lockout after repeated failures), then starts a server-side session
//!   (`engine::sessions`) whose random token goes in the `sessionid` cookie:
//!   HttpOnly, SameSite=Lax, Secure when served over TLS, path `/MAAS/`.
//!   A wrong password shows Django's words and sets no session.
//! - Every other POST must carry the session's token in the form field
//!   `csrfmiddlewaretoken` (Django's name); without it, or with another,
//!   the answer is 403 and nothing changes.

use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use rand::RngCore;

use crate::engine;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::ui::layout;
use crate::ui::respond;
use crate::ui::viewer::{Viewer, CSRF_FAILED, CSRF_FIELD};

pub const SESSION_COOKIE: &str = "sessionid";
pub const CSRF_COOKIE: &str = "csrftoken";
/// Django's `AuthenticationForm` message, which MAAS's login page shows.
pub const BAD_LOGIN: &str =
    "Please enter a correct username and password. Note that both fields may be case-sensitive.";

fn is_tls(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

fn origin(req: &HttpRequest) -> String {
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

/// The session of the request's cookie, if it is live.
pub async fn viewer(req: &HttpRequest, state: &AppState) -> Result<Option<Viewer>> {
    let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(None);
    };
    let found = state.db.run(move |c| engine::sessions::lookup(c, &token)).await?;
    Ok(found.map(|(session, user)| Viewer {
        user,
        session,
        peer: req.peer_addr().map(|a| a.ip()),
        origin: origin(req),
    }))
}

/// Where to send a visitor without a session: the login page, remembering
/// the page they wanted (GETs only; a POST's form is gone anyway).
pub fn to_login(req: &HttpRequest) -> HttpResponse {
    let mut to = "/MAAS/r/login".to_string();
    if req.method() == actix_web::http::Method::GET {
        let wanted = match req.query_string() {
            "" => req.path().to_string(),
            q => format!("{}?{q}", req.path()),
        };
        let next: String = url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
        to = format!("{to}?next={next}");
    }
    respond::redirect(StatusCode::SEE_OTHER, &to)
}

/// Only our own pages are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with(respond::PREFIX) && !n.contains("//") && !n.contains('\\') && !n.contains("/login") =>
        {
            n.to_string()
        }
        _ => "/MAAS/r/machines".into(),
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn cookie<'a>(req: &HttpRequest, name: &'a str, value: String, max_age_secs: i64) -> Cookie<'a> {
    let mut c = Cookie::build(name, value)
        .path("/MAAS/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(is_tls(req))
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_secs))
        .finish();
    if max_age_secs == 0 {
        c.make_removal();
        c.set_path("/MAAS/");
    }
    c
}

/// `GET|POST /MAAS/r/login`.
pub async fn login(req: &HttpRequest, payload: web::Payload, state: &Arc<AppState>, method: &str) -> HttpResponse {
    match method {
        "GET" => {
            if let Ok(Some(_)) = viewer(req, state).await {
                let next = respond::query(req).get("next").map(str::to_string);
                return respond::redirect(StatusCode::FOUND, &safe_next(next.as_deref()));
            }
            let next = respond::query(req).get("next").map(str::to_string);
            login_form(req, StatusCode::OK, None, "", next.as_deref())
        }
        "POST" => match login_post(req, payload, state).await {
            Ok(resp) => resp,
            Err(e) => {
                let status = crate::http::error::status_of(&e);
                login_form(req, status, Some(&respond::message(&e)), "", None)
            }
        },
        _ => layout::error_page(None, &Error::MethodNotAllowed { allow: vec!["GET", "POST"] }),
    }
}

/// The form, with a fresh pre-login CSRF token (cookie and hidden field).
fn login_form(
    req: &HttpRequest,
    status: StatusCode,
    error: Option<&str>,
    username: &str,
    next: Option<&str>,
) -> HttpResponse {
    let token =
        req.cookie(CSRF_COOKIE).map(|c| c.value().to_string()).filter(|v| v.len() == 43).unwrap_or_else(random_token);
    let mut resp = respond::html(status, layout::login(&token, error, username, next));
    let _ = resp.add_cookie(&cookie(req, CSRF_COOKIE, token, engine::sessions::LIFETIME.num_seconds()));
    resp
}

async fn login_post(req: &HttpRequest, payload: web::Payload, state: &Arc<AppState>) -> Result<HttpResponse> {
    let form = respond::form(req, payload).await?;
    // Login CSRF: the form must echo the cookie set with it.
    let expected = req.cookie(CSRF_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    let submitted = form.get(CSRF_FIELD).unwrap_or("");
    use subtle::ConstantTimeEq;
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())) {
        return Err(Error::Forbidden(CSRF_FAILED.into()));
    }
    let username = form.get("username").unwrap_or("").trim().to_string();
    let password = form.get("password").unwrap_or("").to_string();
    let next = form.get("next").map(str::to_string);
    if username.is_empty() || password.is_empty() {
        let which = if username.is_empty() { "username" } else { "password" };
        return Ok(login_form(
            req,
            StatusCode::BAD_REQUEST,
            Some(&format!("{which}: This field is required.")),
            &username,
            next.as_deref(),
        ));
    }
    let peer = req.peer_addr().map(|a| a.ip());
    let user = engine::accounts::authenticate(&state.db, &state.logins, peer, username.clone(), password).await?;
    let Some(user) = user else {
        return Ok(login_form(req, StatusCode::OK, Some(BAD_LOGIN), &username, next.as_deref()));
    };
    let created = state.db.write(move |c| engine::sessions::create(c, &user)).await?;
    let mut resp = respond::redirect(StatusCode::SEE_OTHER, &safe_next(next.as_deref()));
    let _ = resp.add_cookie(&cookie(req, SESSION_COOKIE, created.token, engine::sessions::LIFETIME.num_seconds()));
    Ok(resp)
}

/// `POST /MAAS/r/logout`: ends the session (CSRF-checked, so another site
/// cannot log a user out) and clears the cookie.
pub async fn logout(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    viewer: &Viewer,
) -> Result<HttpResponse> {
    let form = respond::form(req, payload).await?;
    viewer.check_csrf(&form)?;
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    state.db.write(move |c| engine::sessions::end(c, &token)).await?;
    let mut resp = respond::redirect(StatusCode::SEE_OTHER, "/MAAS/r/login");
    let _ = resp.add_cookie(&cookie(req, SESSION_COOKIE, String::new(), 0));
    Ok(resp)
}
