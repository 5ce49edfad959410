//! The entry point: normalises the path, routes it through the API registries (authenticating and decoding parameters) or to a mounted router, and renders the reply or error.

use crate::error::{Error, Result};
use crate::http::error;
use crate::http::oauth;
use crate::http::openapi;
use crate::http::paging;
use crate::http::params::{Params, StreamedMultipart};
use crate::http::registry;
use crate::http::registry::{Access, Action, Method, Registry, API_PREFIX};
use crate::http::reply::Reply;
use crate::http::{AppState, Ctx};
use crate::metrics::RouteLabel;
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use ironpool_common::http_body::{self, ReadError};
use std::sync::Arc;
use std::time::Instant;

/// A router for URLs outside the API registries (the metadata API, the rack
/// link, site pages). `server.rs` mounts them, so this layer names none of
/// them. It gets the path after its prefix.
pub type MountFn =
    fn(HttpRequest, web::Payload, Arc<AppState>, String) -> futures_util::future::LocalBoxFuture<'static, HttpResponse>;

/// A [`MountFn`] at a path prefix; the first matching mount wins.
pub struct Mount {
    pub prefix: &'static str,
    /// The router's name in the request metrics (`handler` label).
    pub name: &'static str,
    pub run: MountFn,
}

/// What the entry point routes with: the API 2.0 and 1.0 handler tables
/// and the routers mounted beside them (`server.rs` builds it).
pub struct Routes {
    pub registry: Arc<Registry>,
    /// The API 1.0 node calls Chef integrations use (not described).
    pub registry_v1: Arc<Registry>,
    /// Routers for the URLs outside the API registries, in order.
    pub mounts: Vec<Mount>,
}

/// Renders a handler result: the reply, or the error's status and body.
pub fn respond(result: Result<Reply>) -> HttpResponse {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => error::to_response(&e),
    }
}

/// Collapses runs of `/` (one Chef client sends `//`), leaving the rest intact.
fn normalise_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut prev_slash = false;
    for ch in p.chars() {
        if ch == '/' && prev_slash {
            continue;
        }
        prev_slash = ch == '/';
        out.push(ch);
    }
    out
}

fn origin_of(req: &HttpRequest) -> String {
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

/// Reads the whole body, refusing more than `limit` bytes (413); a body
/// that falls behind the region's pace is a 408 (see [`http_body`]).
pub async fn read_body_limited(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>> {
    http_body::read_limited(&header::HeaderMap::new(), &mut payload, limit).await.map_err(read_error)
}

/// Like [`read_body_limited`], and refuses at once a body whose declared
/// length is over the limit.
pub async fn read_body(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<Vec<u8>> {
    http_body::read_limited(req.headers(), &mut payload, limit).await.map_err(read_error)
}

fn read_error(e: ReadError) -> Error {
    match e {
        ReadError::TooLarge { limit } => Error::PayloadTooLarge { limit },
        ReadError::TimedOut => Error::RequestTimeout,
        ReadError::Broken(why) => Error::BadRequest(format!("Could not read the request body: {why}.")),
    }
}

/// The single actix service: everything under `/MAAS/` goes through here.
pub async fn entry(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    routes: web::Data<Routes>,
) -> HttpResponse {
    let path = normalise_path(req.path());
    let state = state.into_inner();
    let v1 = path.strip_prefix(V1_PREFIX).map(|rel| (rel.to_string(), routes.registry_v1.clone()));
    let v2 = path.strip_prefix(API_PREFIX).map(|rel| (rel.to_string(), routes.registry.clone()));
    if let Some((rel, registry)) = v2.or(v1) {
        let r = api(&req, payload, state.clone(), routes.registry.clone(), registry, &path, &rel).await;
        let mut resp = respond(r);
        if let Ok(v) = header::HeaderValue::from_str(&routes.registry.api_hash) {
            resp.headers_mut().insert(header::HeaderName::from_static("x-maas-api-hash"), v);
        }
        resp.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Authorization"));
        return resp;
    }
    let mount = routes.mounts.iter().find_map(|m| path.strip_prefix(m.prefix).map(|rel| (m, rel.to_string())));
    match mount {
        Some((m, rel)) => {
            req.extensions_mut().insert(RouteLabel { handler: m.name, action: "-" });
            (m.run)(req, payload, state, rel).await
        }
        None => error::to_response(&Error::UnknownEndpoint(path)),
    }
}

/// Where the API 1.0 compatibility calls live.
pub const V1_PREFIX: &str = "/MAAS/api/1.0/";

async fn api(
    req: &HttpRequest,
    payload: web::Payload,
    state: Arc<AppState>,
    v2: Arc<Registry>,
    registry: Arc<Registry>,
    full_path: &str,
    rel: &str,
) -> Result<Reply> {
    if Arc::ptr_eq(&registry, &v2) && matches!(rel, "openapi.yaml" | "openapi.json") {
        req.extensions_mut().insert(RouteLabel { handler: "openapi", action: "read" });
        // Anonymous, generated from the same table as routing and describe/.
        return match req.method().as_str() {
            "GET" if rel == "openapi.yaml" => {
                Ok(Reply::Bytes("application/openapi+yaml", openapi::yaml(&registry)?.into_bytes()))
            }
            "GET" => Ok(Reply::Bytes("application/json", openapi::json(&registry)?.into_bytes())),
            _ => Err(Error::MethodNotAllowed { allow: vec!["GET"] }),
        };
    }
    if rel == "describe/" && Arc::ptr_eq(&registry, &v2) {
        req.extensions_mut().insert(RouteLabel { handler: "describe", action: "read" });
        // Anonymous; signed requests are accepted and their signature ignored.
        return match req.method().as_str() {
            "GET" => Ok(Reply::JsonBare(v2.describe(&origin_of(req)))),
            _ => Err(Error::MethodNotAllowed { allow: vec!["GET"] }),
        };
    }
    let route = registry.route(rel).ok_or_else(|| Error::UnknownEndpoint(full_path.to_string()))?;
    let handlers: Vec<&registry::Handler> = route.auth.iter().chain(route.anon.iter()).copied().collect();
    if let Some(h) = handlers.first() {
        // Refined to the handler and action once they are chosen.
        req.extensions_mut().insert(RouteLabel { handler: h.name, action: "-" });
    }
    let method = Method::parse(req.method().as_str()).ok_or_else(|| allowed(&handlers))?;
    let config = &state.config;

    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let mime = content_type.and_then(|c| c.split(';').next()).map(|m| m.trim().to_ascii_lowercase());
    let form_encoded = mime.as_deref() == Some("application/x-www-form-urlencoded");
    let is_raw = mime.as_deref() == Some("application/octet-stream");

    let mut params = Params::default();
    params.extend_urlencoded(req.query_string().as_bytes());
    let query_len = params.pairs().len();

    // Bodies are read after authentication, with the limit of the caller and
    // the action, except a form body: OAuth signs its fields and it may
    // carry the credentials, so it is read first, under the form limit
    // (form bodies never carry files). Multipart and JSON bodies are not
    // signed.
    let mut payload = Some(payload);
    let mut body_len = 0;
    if form_encoded {
        if let Some(p) = payload.take() {
            let body = read_body(req, p, config.max_body_bytes).await?;
            body_len = body.len();
            params.extend_body(content_type, &body)?;
        }
    }

    // Credentials: the Authorization header(s) first (gomaasapi 2.0.0 may send
    // several on retries; the last is the freshest), else query, else form body.
    let mut attempts: Vec<oauth::OAuthParams> = req
        .headers()
        .get_all(header::AUTHORIZATION)
        .filter_map(|v| v.to_str().ok())
        .filter_map(oauth::parse_header)
        .collect();
    attempts.reverse();
    if attempts.is_empty() {
        let (q, b) = params.pairs().split_at(query_len);
        attempts.extend(oauth::from_pairs(q).or_else(|| if form_encoded { oauth::from_pairs(b) } else { None }));
    }

    let mut user = None;
    if route.auth.is_some() && !attempts.is_empty() {
        let signed: Vec<(String, String)> = params.pairs().to_vec();
        let origin = origin_of(req);
        let signed_req = oauth::SignedRequest {
            method: req.method().as_str(),
            base_url: &origin,
            raw_path: req.path(),
            params: &signed,
        };
        let policy = oauth::Policy {
            window_secs: config.oauth_timestamp_window_secs,
            reject_nonce_reuse: config.oauth_reject_nonce_reuse,
            cache_for: std::time::Duration::from_secs(config.oauth_cache_secs),
        };
        let mut last_err = None;
        for attempt in &attempts {
            match oauth::verify(&state.db, &state.nonces, &state.auth_cache, policy, attempt, &signed_req).await {
                Ok(u) => {
                    user = Some(u);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        if user.is_none() {
            return Err(last_err.unwrap_or_else(|| {
                Error::Unauthorized("Authentication credentials were not provided or are not valid.".into())
            }));
        }
    }

    // MAAS dispatch: an authenticated caller gets the authenticated handler; an
    // anonymous one gets the anonymous handler when it serves this method,
    // otherwise a 401 challenge.
    let handler = match (&user, route.auth, route.anon) {
        (Some(_), Some(h), _) => h,
        (None, _, Some(anon)) if route.auth.is_none() || anon.actions.iter().any(|a| a.method == method) => anon,
        (None, Some(_), _) => {
            return Err(Error::Unauthorized("Authentication credentials were not provided or are not valid.".into()))
        }
        (_, None, Some(anon)) => anon,
        (_, None, None) => unreachable!("a route has at least one handler"),
    };
    if let Some(u) = &user {
        req.extensions_mut().insert(LoggedUser(u.username.clone()));
    }
    req.extensions_mut().insert(RouteLabel { handler: handler.name, action: "-" });
    if !handler.actions.iter().any(|a| a.method == method) {
        return Err(allowed(&[handler]));
    }

    // The actions this request may reach: one when the path or the query
    // (or a form body) names the op, else every action of this method (a
    // multipart or JSON body may still name it).
    let op_settled = route.path_op.is_some() || params.contains("op");
    let early_op = settled_op(&route.path_op, &params);
    let candidates: Vec<&Action> =
        handler.actions.iter().filter(|a| a.method == method && (!op_settled || a.op == early_op.as_deref())).collect();
    if candidates.is_empty() {
        return Err(unrecognised(method, &early_op));
    }
    let limit_of = |a: &Action| {
        let limit = a.max_body.unwrap_or(config.max_body_bytes);
        if user.is_some() {
            limit
        } else {
            limit.min(config.max_anonymous_body_bytes)
        }
    };
    let limit = candidates.iter().map(|a| limit_of(a)).max().unwrap_or(config.max_anonymous_body_bytes);

    // Raw uploads (boot-resource chunks) stream to disk in their handler
    // instead of being buffered here; multipart uploads of actions that
    // stream files are parsed as they arrive, their file parts written to
    // spool files (under the same limit, pace and part caps).
    let streams = is_raw && candidates.iter().any(|a| a.raw_body);
    let spools = mime.as_deref() == Some("multipart/form-data") && candidates.iter().any(|a| a.streams_files);
    let raw_body = match payload.take() {
        Some(p) if streams => Some(p),
        Some(mut p) if spools => {
            let mut upload =
                StreamedMultipart::new(content_type.unwrap_or_default(), state.spool.clone(), config.max_body_bytes)?;
            let mut pieces = http_body::Limited::new(req.headers(), &mut p, limit).map_err(read_error)?;
            while let Some(piece) = pieces.next().await {
                upload.push(&piece.map_err(read_error)?).await?;
            }
            body_len = pieces.read();
            upload.finish(&mut params).await?;
            None
        }
        Some(p) => {
            let body = read_body(req, p, limit).await?;
            body_len = body.len();
            params.extend_body(content_type, &body)?;
            None
        }
        None => None,
    };

    let op = settled_op(&route.path_op, &params);
    let action = handler
        .actions
        .iter()
        .find(|a| a.method == method && a.op == op.as_deref())
        .ok_or_else(|| unrecognised(method, &op))?;
    req.extensions_mut().insert(RouteLabel { handler: handler.name, action: action_label(action) });
    if body_len > limit_of(action) {
        // The op came with the body, and that action takes less.
        return Err(Error::PayloadTooLarge { limit: limit_of(action) });
    }
    if spools && !action.streams_files {
        // The op came with the body and names an action that wants its
        // files in memory; they fit its limit (checked just above).
        params.unspool().await?;
    }

    params.remove_where(|k| k == "op" || k.starts_with("oauth_"));
    debug_assert!(handler.access == Access::Anonymous || user.is_some());
    let paging = if action.method == Method::Get && action.op.is_none() && !action.pages_itself {
        paging::Request::from_params(&mut params)?
    } else {
        None
    };
    let origin = origin_of(req);
    let peer = req.peer_addr().map(|a| a.ip());
    let ctx = Ctx { state, user, path_params: route.path_params, params, origin: origin.clone(), body: raw_body, peer };
    let reply = (action.run)(ctx).await?;
    Ok(match paging {
        Some(p) => p.apply(reply, &format!("{origin}{full_path}"), req.query_string()),
        None => reply,
    })
}

/// An action's name in the metrics: its op, else its CRUD verb.
fn action_label(action: &Action) -> &'static str {
    match (action.op, action.method) {
        (Some(op), _) => op,
        (None, Method::Get) => "read",
        (None, Method::Post) => "create",
        (None, Method::Put) => "update",
        (None, Method::Delete) => "delete",
    }
}

/// The op a request names: the `op-<name>` path suffix, else the first `op`
/// parameter; blank means none.
fn settled_op(path_op: &Option<String>, params: &Params) -> Option<String> {
    path_op.clone().or_else(|| params.get("op").map(str::to_string)).filter(|op| !op.is_empty())
}

fn unrecognised(method: Method, op: &Option<String>) -> Error {
    Error::UnrecognisedSignature {
        method: method.as_str().to_string(),
        op: op.clone().unwrap_or_else(|| "None".into()),
    }
}

fn allowed(handlers: &[&registry::Handler]) -> Error {
    let mut allow: Vec<&'static str> =
        handlers.iter().flat_map(|h| h.actions.iter()).map(|a| a.method.as_str()).collect();
    allow.sort();
    allow.dedup();
    Error::MethodNotAllowed { allow }
}

/// The authenticated username, stashed for the request log.
#[derive(Clone)]
pub struct LoggedUser(pub String);

/// Logs one line per request: method, path (never the query, which may carry
/// OAuth parameters), status, latency and user, and records the request in
/// the metrics under its routed handler and action (never the path, whose
/// values are unbounded). Headers and bodies are never logged, so secrets
/// are not either.
pub async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> std::result::Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let res = next.call(req).await?;
    let elapsed = start.elapsed().as_secs_f64();
    let user = res.request().extensions().get::<LoggedUser>().map(|u| u.0.clone()).unwrap_or_else(|| "-".into());
    let route = res.request().extensions().get::<RouteLabel>().copied().unwrap_or(RouteLabel::UNROUTED);
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        state.metrics.observe(route, res.status().as_u16(), elapsed);
    }
    tracing::info!(
        target: "ironpool::http",
        %method,
        %path,
        status = res.status().as_u16(),
        latency_ms = elapsed * 1000.0,
        %user,
        "request"
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    #[test]
    fn collapses_slashes() {
        assert_eq!(super::normalise_path("/MAAS/api/1.0//nodes/"), "/MAAS/api/1.0/nodes/");
    }
}
