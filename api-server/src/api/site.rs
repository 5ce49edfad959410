//! The region's URLs outside API 2.0: the API version probe and landing page,
//! password authentication (`/MAAS/accounts/authenticate/`, what
//! python-libmaas' `login()` calls), the login state probe, and API 1.0's
//! place-holder.

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};

use crate::db;
use crate::engine;
use crate::error::{Error, Result};
use crate::http;
use crate::http::params::Params;
use crate::http::reply::Reply;
use crate::http::AppState;

const FORM_LIMIT: usize = 64 * 1024;

/// Swagger UI, vendored (no CDN: regions often have no internet).
const SWAGGER_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const SWAGGER_INDEX: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Ironpool — MAAS API 2.0</title>
  <link rel="stylesheet" href="/MAAS/api/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/MAAS/api/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/MAAS/api/2.0/openapi.json", dom_id: "#swagger-ui" });
  </script>
</body>
</html>
"##;

pub async fn route(req: &HttpRequest, payload: web::Payload, state: Arc<AppState>, path: &str) -> Result<Reply> {
    let method = req.method().as_str();
    match path {
        "/MAAS/api/version/" => only(method, &["GET"]).map(|_| Reply::Text(StatusCode::OK, "2.0".into())),
        "/MAAS/api/" | "/MAAS/api" => {
            only(method, &["GET"])?;
            Ok(landing(req))
        }
        "/MAAS/accounts/authenticate/" => {
            only(method, &["POST"])?;
            let body = http::router::read_body_limited(payload, FORM_LIMIT).await?;
            let mut p = Params::default();
            let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            p.extend_body(ct, &body)?;
            authenticate(&state, req.peer_addr().map(|a| a.ip()), &p).await
        }
        "/MAAS/accounts/login/" => {
            only(method, &["GET"])?;
            let no_users = state.db.run(db::users::count).await? == 0;
            Ok(Reply::json(crate::api::views::site::LoginState {
                authenticated: false,
                external_auth_url: None,
                no_users,
            }))
        }
        "/MAAS/api/docs/" | "/MAAS/api/docs" => {
            only(method, &["GET"])?;
            Ok(Reply::Bytes("text/html; charset=utf-8", SWAGGER_INDEX.as_bytes().to_vec()))
        }
        "/MAAS/api/docs/swagger-ui-bundle.js" => {
            only(method, &["GET"])?;
            Ok(Reply::Bytes("application/javascript", SWAGGER_JS.to_vec()))
        }
        "/MAAS/api/docs/swagger-ui.css" => {
            only(method, &["GET"])?;
            Ok(Reply::Bytes("text/css", SWAGGER_CSS.to_vec()))
        }
        p if p.starts_with("/MAAS/api/") => Err(Error::UnknownEndpoint(p.to_string())),
        _ => Ok(Reply::Text(StatusCode::NOT_FOUND, format!("Not Found: {path}"))),
    }
}

fn only(method: &str, allowed: &[&'static str]) -> Result<()> {
    if allowed.contains(&method) {
        Ok(())
    } else {
        Err(Error::MethodNotAllowed { allow: allowed.to_vec() })
    }
}

fn landing(req: &HttpRequest) -> Reply {
    let ci = req.connection_info();
    Reply::Json(crate::api::views::site::landing(&format!("{}://{}", ci.scheme(), ci.host())))
}

/// `POST /MAAS/accounts/authenticate/`: checks a password without creating a
/// session and returns an API token (`maas-api.md` §5.7). Bad credentials and
/// inactive users are 403, as python-libmaas expects; repeated failures are
/// 429 with `Retry-After` (`engine::login_guard`). The source address is the
/// TCP peer, never a forwarded-for header a client could forge.
async fn authenticate(state: &AppState, addr: Option<std::net::IpAddr>, p: &Params) -> Result<Reply> {
    let username = p.get("username").unwrap_or("").to_string();
    let password = p.get("password").unwrap_or("").to_string();
    if username.is_empty() || password.is_empty() {
        return Err(Error::Forbidden("Username and password are required.".into()));
    }
    let consumer = p.get_nonempty("consumer").map(str::to_string);
    let user = engine::accounts::authenticate(&state.db, &state.logins, addr, username, password)
        .await?
        .ok_or_else(|| Error::Forbidden("Invalid username or password.".into()))?;
    let t = state.db.write(move |c| engine::accounts::token_for_login(c, user.id, consumer.as_deref())).await?;
    Ok(Reply::json(crate::api::views::account::Credentials::of(&t)))
}
