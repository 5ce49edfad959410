//! API actions called in-process: the UI's only way to change anything.
//!
//! A call goes through the API's handler table (`api::handlers()`) exactly
//! as a signed request would after authentication: the same handler, the
//! same parameter parsing, the same permission checks and the same error
//! words, with the session's user as the caller.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::api;
use crate::error::{Error, Result};
use crate::http::params::Params;
use crate::http::registry::{Method, Registry};
use crate::http::reply::Reply;
use crate::http::{AppState, Ctx};
use crate::ui::viewer::Viewer;

/// The API 2.0 table, built once per process (it is static data).
fn registry() -> &'static Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::new(api::handlers()))
}

/// Runs the API action `method` `rel` (`machines/abc/`) with `op`, as
/// `viewer`.
pub async fn call(
    state: &Arc<AppState>,
    viewer: &Viewer,
    method: Method,
    rel: &str,
    op: Option<&str>,
    params: Vec<(String, String)>,
) -> Result<Reply> {
    let mut p = Params::default();
    for (k, v) in params {
        p.push(k, v);
    }
    call_params(state, viewer, method, rel, op, p).await
}

/// [`call`] with parameters already decoded, file parts included (an
/// upload form's spooled file goes to the API's action as the dispatcher
/// would hand it over).
pub async fn call_params(
    state: &Arc<AppState>,
    viewer: &Viewer,
    method: Method,
    rel: &str,
    op: Option<&str>,
    params: Params,
) -> Result<Reply> {
    let route = registry().route(rel).ok_or_else(|| Error::UnknownEndpoint(rel.to_string()))?;
    let handler = route.auth.ok_or_else(|| Error::UnknownEndpoint(rel.to_string()))?;
    let action = handler.actions.iter().find(|a| a.method == method && a.op == op).ok_or_else(|| {
        Error::UnrecognisedSignature { method: method.as_str().into(), op: op.unwrap_or("None").into() }
    })?;
    let ctx = Ctx {
        state: state.clone(),
        user: Some(viewer.user.clone()),
        path_params: route.path_params.clone(),
        params,
        origin: viewer.origin.clone(),
        body: None,
        peer: viewer.peer,
    };
    (action.run)(ctx).await
}

/// A call whose answer is JSON (reads).
pub async fn json(
    state: &Arc<AppState>,
    viewer: &Viewer,
    method: Method,
    rel: &str,
    op: Option<&str>,
    params: Vec<(String, String)>,
) -> Result<Value> {
    match call(state, viewer, method, rel, op, params).await? {
        Reply::Json(v) | Reply::JsonStatus(_, v) | Reply::JsonBare(v) | Reply::JsonLinked(v, _) => Ok(v),
        Reply::JsonBytes(b, _) => serde_json::from_slice(&b).map_err(Error::internal),
        _ => Ok(Value::Null),
    }
}

/// Builds a parameter list.
pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
