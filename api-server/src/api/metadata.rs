//! `/MAAS/metadata/`: what booting machines call (`maas-api.md` §11).
//!
//! These URLs are not part of API 2.0 (no `describe/`, no op table): the
//! paths are cloud-init's and MAAS's script runner's, so they are routed
//! here by hand. Handlers stay thin: authenticate the node, call
//! `engine::metadata`, render text.
//!
//! Authentication is OAuth with the machine's own token (PLAINTEXT in
//! practice; HMAC-SHA1 is checked too). A user's token is a 403
//! `Not authenticated as a known node.`; requests without credentials get
//! the enlistment answers where MAAS gives them. A node's token lives for
//! one phase (`engine::metadata::token`): a revoked one is an unknown key,
//! 401 `Invalid API key.`
//!
//! Two routes MAAS serves anonymously are not anonymous here, because
//! knowing a system_id is not being the machine:
//!
//! - `{v}/by-id/{id}/?op=get_preseed` carries the node's token. It is served
//!   at `{v}/by-id/{id}/{boot_secret}/?op=get_preseed`, the URL the rack
//!   puts on the kernel command line (the secret changes with each phase),
//!   or to the node itself (signed). The plain MAAS URL still works while
//!   the machine enlists (MAAS's enlistment script fetches it right after
//!   creating the machine anonymously; there is no tenant data then, and
//!   enlistment's token is revoked when it ends); otherwise it is a 403
//!   saying where the preseed is served.
//! - `{v}/by-id/{id}/?op=netboot_off` (MAAS: curtin's late command, an
//!   anonymous `wget`) needs the node's token (OAuth) or the boot secret
//!   segment; anonymous is a 401. Nothing of MAAS's runs it against us: the
//!   installer is our agent, which calls the signed `{v}/?op=netboot_off`.
//!   Without this, anyone could turn netboot off for a deploying machine
//!   and leave it booting an empty disk until the deploy timeout.

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};

use crate::db;
use crate::db::nodes::Node;
use crate::engine;
use crate::engine::metadata::{ByIdCaller, Signal, VERSIONS};
use crate::error::{Error, Result};
use crate::http;
use crate::http::oauth::NodeCaller;
use crate::http::params::Params;
use crate::http::reply::Reply;
use crate::http::AppState;

pub const PREFIX: &str = "/MAAS/metadata/";

/// Script outputs (lshw XML, inventories) can be large; far below this.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

fn text(s: impl Into<String>) -> Reply {
    Reply::Text(StatusCode::OK, s.into())
}

fn not_found(what: &str) -> Reply {
    Reply::Text(StatusCode::NOT_FOUND, what.to_string())
}

fn method(req: &HttpRequest, allowed: &[&'static str]) -> Result<()> {
    if allowed.contains(&req.method().as_str()) {
        Ok(())
    } else {
        Err(Error::MethodNotAllowed { allow: allowed.to_vec() })
    }
}

/// `scheme://host[:port]` as the machine addressed us: the URLs we hand out
/// (metadata_url, webhook endpoint) must be reachable the same way.
fn origin(req: &HttpRequest) -> String {
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

/// A request, read and decoded once.
struct Request {
    params: Params,
    body: Vec<u8>,
    caller: NodeCaller,
}

/// Authenticates the caller, then reads the body. Credentials in the
/// `Authorization` header or the query are verified before any body byte is
/// read, and the body is then read under the node's limit (the anonymous
/// one for a caller offering none). Only a form body comes first: OAuth
/// signs its fields and it may carry the credentials itself, so it is read
/// under the small form limit before they are checked.
async fn read(req: &HttpRequest, payload: web::Payload, state: &AppState) -> Result<Request> {
    let config = &state.config;
    let mut params = Params::default();
    params.extend_urlencoded(req.query_string().as_bytes());
    let query_len = params.pairs().len();
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let json = ct.is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    let form_encoded = ct.is_some_and(|c| c.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let offered = req
        .headers()
        .get_all(header::AUTHORIZATION)
        .filter_map(|v| v.to_str().ok())
        .filter_map(http::oauth::parse_header)
        .last()
        .or_else(|| http::oauth::from_pairs(&params.pairs()[..query_len]));
    let mut body = Vec::new();
    let mut payload = Some(payload);
    if form_encoded {
        if let Some(p) = payload.take() {
            body = http::router::read_body(req, p, BODY_LIMIT.min(config.max_body_bytes)).await?;
            params.extend_body(ct, &body)?;
        }
    }
    let attempt =
        offered.or_else(|| if form_encoded { http::oauth::from_pairs(&params.pairs()[query_len..]) } else { None });
    // OAuth signs the query, and a form body's fields; nothing else.
    let signed: Vec<(String, String)> = params.pairs().to_vec();
    let base = origin(req);
    let signed_req = http::oauth::SignedRequest {
        method: req.method().as_str(),
        base_url: &base,
        raw_path: req.path(),
        params: &signed,
    };
    let policy = http::oauth::Policy {
        window_secs: config.oauth_timestamp_window_secs,
        reject_nonce_reuse: config.oauth_reject_nonce_reuse,
        cache_for: std::time::Duration::from_secs(config.oauth_cache_secs),
    };
    let caller = http::oauth::verify_node(&state.db, &state.nonces, policy, attempt.as_ref(), &signed_req).await?;
    if let Some(p) = payload.take() {
        let limit = match caller {
            NodeCaller::Node(_) => BODY_LIMIT,
            NodeCaller::Anonymous => BODY_LIMIT.min(config.max_anonymous_body_bytes),
        };
        body = http::router::read_body(req, p, limit).await?;
        if !json {
            params.extend_body(ct, &body)?;
        }
    }
    params.remove_where(|k| k.starts_with("oauth_"));
    Ok(Request { params, body, caller })
}

fn node_of(r: &Request) -> Result<&Node> {
    match &r.caller {
        NodeCaller::Node(n) => Ok(n),
        NodeCaller::Anonymous => {
            Err(Error::Unauthorized("Authentication credentials were not provided or are not valid.".into()))
        }
    }
}

/// Routes one request under [`PREFIX`]; `rel` is the path after it.
pub async fn route(req: &HttpRequest, payload: web::Payload, state: Arc<AppState>, rel: &str) -> Result<Reply> {
    // cloud-init sometimes joins URLs with an extra slash.
    let rel = rel.trim_start_matches('/');
    let segs: Vec<&str> = rel.split('/').collect();
    match segs.as_slice() {
        [""] => {
            method(req, &["GET"])?;
            Ok(text(format!("{}\n", VERSIONS.join("\n"))))
        }
        ["enlist", v, rest @ ..] => {
            method(req, &["GET"])?;
            check_version(v)?;
            Ok(enlist_answer(&rest.join("/")))
        }
        ["status", sid] | ["status", sid, ""] => {
            method(req, &["POST"])?;
            let r = read(req, payload, &state).await?;
            let node = node_of(&r)?.clone();
            if node.system_id != *sid {
                return Err(Error::Forbidden("Not authenticated as the node this status is for.".into()));
            }
            let ev = engine::metadata::parse_status_event(&r.body)?;
            state.db.write(move |c| engine::metadata::status_event(c, &node, &ev)).await?;
            Ok(text("OK"))
        }
        // curtin's view (MAAS points the installer at `metadata/curtin/`):
        // the same tree, but user-data is the installation config.
        ["curtin", v, "user-data"] => {
            method(req, &["GET"])?;
            check_version(v)?;
            let r = read(req, payload, &state).await?;
            let node = node_of(&r)?.clone();
            let base = origin(req);
            let dir = state.config.data_dir.clone();
            let cfg = state.db.run(move |c| engine::metadata::curtin_config(c, &dir, &base, &node)).await?;
            Ok(Reply::Bytes("application/x-yaml", cfg.into_bytes()))
        }
        ["curtin", v, rest @ ..] => {
            check_version(v)?;
            versioned(req, payload, state, &rest.join("/")).await
        }
        [v, rest @ ..] => {
            check_version(v)?;
            versioned(req, payload, state, &rest.join("/")).await
        }
        [] => Ok(not_found("Not found")),
    }
}

/// A `by-id/` caller: the boot secret segment if the URL has one, else the
/// authenticated node, else nobody.
fn by_id_caller(secret: Option<&str>, node_id: Option<i64>) -> ByIdCaller<'_> {
    match (secret, node_id) {
        (Some(s), _) => ByIdCaller::BootSecret(s),
        (None, Some(id)) => ByIdCaller::Node(id),
        (None, None) => ByIdCaller::Anonymous,
    }
}

fn check_version(v: &str) -> Result<()> {
    if VERSIONS.contains(&v) {
        Ok(())
    } else {
        Err(Error::NotFoundText(format!("Unknown metadata version: {v}")))
    }
}

/// The fixed answers an enlisting (unknown) machine gets.
fn enlist_answer(rest: &str) -> Reply {
    match rest {
        "" => text("meta-data\nuser-data\n"),
        "meta-data" | "meta-data/" => text("instance-id\nlocal-hostname\npublic-keys\n"),
        "meta-data/instance-id" => text("i-maas-enlistment"),
        "meta-data/local-hostname" => text("maas-enlisting-node"),
        "meta-data/public-keys" => text(""),
        // Our agent enlists itself; there is no script runner to hand out.
        "user-data" => Reply::Bytes("application/octet-stream", b"#!/bin/sh\nexit 0\n".to_vec()),
        _ => not_found("Not found"),
    }
}

async fn versioned(req: &HttpRequest, payload: web::Payload, state: Arc<AppState>, rest: &str) -> Result<Reply> {
    let base = origin(req);
    let segs: Vec<&str> = rest.split('/').collect();
    match segs.as_slice() {
        ["enlist-preseed", ""] | ["enlist-preseed"] => {
            method(req, &["GET"])?;
            let r = read(req, payload, &state).await?;
            match r.params.get("op") {
                Some("get_enlist_preseed") => Ok(text(engine::metadata::preseed(&base, None))),
                op => Err(unrecognised("GET", op)),
            }
        }
        // MAAS's `by-id/{id}/`, and ours with the phase's boot secret as
        // one more segment (what the rack's boot configuration points at).
        ["by-id", sid, ""] | ["by-id", sid] | ["by-id", sid, _, ""] | ["by-id", sid, _] => {
            method(req, &["GET", "POST"])?;
            let sid = sid.to_string();
            let secret = segs.get(2).filter(|s| !s.is_empty()).map(|s| s.to_string());
            let r = read(req, payload, &state).await?;
            let caller_id = match &r.caller {
                NodeCaller::Node(n) => Some(n.id),
                NodeCaller::Anonymous => None,
            };
            match (req.method().as_str(), r.params.get("op")) {
                ("GET", Some("get_preseed")) => Ok(text(
                    state
                        .db
                        .write(move |c| {
                            engine::metadata::get_preseed(c, &base, &sid, by_id_caller(secret.as_deref(), caller_id))
                        })
                        .await?,
                )),
                ("POST", Some("netboot_off")) => {
                    state
                        .db
                        .write(move |c| {
                            engine::metadata::netboot_off_by_id(c, &sid, by_id_caller(secret.as_deref(), caller_id))
                        })
                        .await?;
                    Ok(text("OK"))
                }
                (m, op) => Err(unrecognised(m, op)),
            }
        }
        [""] => {
            method(req, &["GET", "POST"])?;
            let r = read(req, payload, &state).await?;
            if req.method() == "GET" {
                return match &r.caller {
                    NodeCaller::Anonymous => Ok(enlist_answer("")),
                    NodeCaller::Node(n) => {
                        let mut items = vec!["maas-commissioning-scripts", "meta-data"];
                        if engine::metadata::user_data(n).is_some() {
                            items.push("user-data");
                        }
                        Ok(text(format!("{}\n", items.join("\n"))))
                    }
                };
            }
            let node = node_of(&r)?.clone();
            match r.params.get("op") {
                Some("signal") => {
                    let s = signal_input(&r.params)?;
                    state.db.write(move |c| engine::metadata::signal(c, &node, &s)).await?;
                    Ok(text("OK"))
                }
                Some(op @ ("netboot_on" | "netboot_off")) => {
                    let on = op == "netboot_on";
                    state.db.write(move |c| engine::metadata::set_netboot(c, &node, on)).await?;
                    Ok(text("OK"))
                }
                op => Err(unrecognised("POST", op)),
            }
        }
        ["meta-data", ""] | ["meta-data"] | ["meta-data", _] => {
            method(req, &["GET"])?;
            let item = segs.get(1).copied().unwrap_or("").to_string();
            let r = read(req, payload, &state).await?;
            let node = match &r.caller {
                NodeCaller::Anonymous => return Ok(enlist_answer(&format!("meta-data/{item}"))),
                NodeCaller::Node(n) => (**n).clone(),
            };
            meta_data(&state, node, &item).await
        }
        ["user-data"] => {
            method(req, &["GET"])?;
            let r = read(req, payload, &state).await?;
            match &r.caller {
                NodeCaller::Anonymous => Ok(enlist_answer("user-data")),
                NodeCaller::Node(n) => match engine::metadata::user_data(n) {
                    Some(data) => Ok(Reply::Bytes("application/octet-stream", data)),
                    None => Ok(not_found("No user data available for this node.")),
                },
            }
        }
        ["maas-scripts", ""] | ["maas-scripts"] => {
            // The scripts of the node's phase as MAAS's tar (index.json and
            // the files); 204 when there is nothing to run, as MAAS.
            method(req, &["GET"])?;
            let r = read(req, payload, &state).await?;
            let node = node_of(&r)?.clone();
            let region = format!("{base}/MAAS/");
            // Per-device scripts get their result rows (one per disk or
            // interface) before they are served: a write.
            let tar = state
                .db
                .write(move |c| {
                    engine::results::expand_instances(c, &node)?;
                    engine::scripts::maas_scripts_tar(c, &node, &region)
                })
                .await?;
            Ok(match tar {
                Some(bytes) => Reply::Bytes("application/x-tar", bytes),
                None => Reply::Empty(StatusCode::NO_CONTENT),
            })
        }
        _ => Ok(not_found("Not found")),
    }
}

async fn meta_data(state: &AppState, node: Node, item: &str) -> Result<Reply> {
    let item = item.to_string();
    state
        .db
        .run(move |c| {
            Ok(match item.as_str() {
                "" => {
                    let mut items = vec!["instance-id", "local-hostname"];
                    if !engine::metadata::public_keys(c, &node)?.is_empty() {
                        items.push("public-keys");
                    }
                    items.extend(["vendor-data", "x509"]);
                    text(format!("{}\n", items.join("\n")))
                }
                "instance-id" => text(node.system_id.clone()),
                "local-hostname" => text(engine::metadata::fqdn(c, &node)?),
                "public-keys" => text(engine::metadata::public_keys(c, &node)?.join("\n")),
                "x509" => {
                    let keys = match node.owner_id {
                        Some(o) => db::sshkeys::ssl_list(c, o)?.into_iter().map(|k| k.key).collect(),
                        None => Vec::new(),
                    };
                    text(keys.join("\n"))
                }
                "vendor-data" => Reply::Bytes("application/x-yaml", engine::metadata::vendor_data(c)?.into_bytes()),
                _ => not_found("Unknown metadata attribute."),
            })
        })
        .await
}

fn unrecognised(method: &str, op: Option<&str>) -> Error {
    Error::UnrecognisedSignature { method: method.to_string(), op: op.unwrap_or("None").to_string() }
}

/// Decodes `signal`'s form: `status`, `error`, `name`, `exit_status` (or its
/// aliases `script_result`, `result`), `runtime`, `script_result_id`,
/// `power_type` and `power_parameters`, and the file parts.
fn signal_input(p: &Params) -> Result<Signal> {
    let status = p.get_nonempty("status").ok_or_else(|| Error::required("status"))?.to_string();
    let exit_raw = p.get_nonempty("exit_status").or(p.get_nonempty("script_result")).or(p.get_nonempty("result"));
    let exit_status = match exit_raw {
        None => None,
        Some(v) => Some(v.parse::<i32>().map_err(|_| Error::field("exit_status", "Enter a whole number."))?),
    };
    let script_result_id = match p.get_nonempty("script_result_id") {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| Error::field("script_result_id", "Enter a whole number."))?),
    };
    let files = p
        .files()
        .iter()
        .map(|f| Ok((if f.name.is_empty() { f.filename.clone() } else { f.name.clone() }, f.in_memory()?.to_vec())))
        .collect::<Result<_>>()?;
    Ok(Signal {
        status,
        error: p.get("error").map(str::to_string),
        name: p.get_nonempty("name").map(str::to_string),
        exit_status,
        runtime: p.get_nonempty("runtime").map(str::to_string),
        script_result_id,
        files,
        power_type: p.get("power_type").map(str::to_string),
        power_parameters: p.get("power_parameters").map(str::to_string),
    })
}
