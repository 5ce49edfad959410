//! The region's end of the rack link (`/MAAS/rpc/v1/…`): authenticates
//! every request (the rack's own key, or the shared secret for `register`),
//! records its nonce in the database, hands the decoded body to
//! `engine::racks` for the rack that signed it, and signs the answer. The
//! protocol and its trust rules are described in `ironpool_common::rack_link`.

use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use ironpool_common::rack_link::{self as proto, BootEventReport, ImageRef, LeaseReport, RegisterRequest, SyncRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::db::nodes::Node;
use crate::engine;
use crate::engine::racks::BootImages;
use crate::error::{Error, Result};
use crate::http::error::to_response;
use crate::http::router::read_body_limited;
use crate::http::AppState;

/// Lease batches can be large after an outage; nothing else comes close.
const BODY_LIMIT: usize = 16 << 20;

/// Who signed a request, once verified.
struct Caller {
    /// The rack whose own key signed; `None` for the shared secret.
    rack: Option<Node>,
}

pub async fn handle(req: &HttpRequest, payload: web::Payload, state: Arc<AppState>, call: &str) -> HttpResponse {
    let header = req.headers().get(proto::AUTH_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let nonce = proto::parse_header(&header).map(|s| s.nonce.to_string());
    // Until the request is verified the answer is signed with the shared
    // secret (the rack holds it too): the rack can tell a region's "who are
    // you?" from a forged one.
    let mut key = state.rack_secret.clone();
    let resp = match dispatch(req, payload, &state, call, &mut key).await {
        Ok(r) => r,
        Err(e) => to_response(&e),
    };
    match nonce {
        // Boot files are left unsigned: the rack checks their SHA-256
        // against the signed configuration, and hashing gigabytes twice
        // buys nothing.
        Some(n) if !call.starts_with("images/") => sign(resp, &key, &n).await,
        _ => resp,
    }
}

/// Adds [`proto::REGION_AUTH_HEADER`] over the answer's status and body
/// (errors included, so the rack can believe a 404 "register again").
async fn sign(resp: HttpResponse, key: &str, nonce: &str) -> HttpResponse {
    let status = resp.status().as_u16();
    let (head, body) = resp.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(b) => b,
        Err(_) => return to_response(&Error::Internal("cannot sign the rack answer".into())),
    };
    let mut resp = head.set_body(bytes.clone()).map_into_boxed_body();
    if let Ok(v) = HeaderValue::from_str(&proto::sign_response(key, status, nonce, &bytes)) {
        resp.headers_mut().insert(HeaderName::from_static(proto::REGION_AUTH_HEADER), v);
    }
    resp
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One message for every failure, so a caller learns nothing about which
/// part was wrong.
fn refused() -> Error {
    Error::Unauthorized(
        "Rack authentication failed: check the rack's key and clock, or the registration secret (`ironpool secret`)."
            .into(),
    )
}

/// Verifies the signature (with the rack's key when the header names a
/// rack, else the shared secret), then records the nonce in the database
/// so no region accepts the request again, even after a restart.
async fn authenticate(req: &HttpRequest, state: &AppState, body: &[u8], key_out: &mut String) -> Result<Caller> {
    let header = req.headers().get(proto::AUTH_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(refused)?;
    let signed = proto::parse_header(header).ok_or_else(refused)?;
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
    let (rack, key) = match signed.rack {
        None => (None, state.rack_secret.clone()),
        Some(sid) => {
            let sid = sid.to_string();
            let cred = state.db.run(move |c| engine::racks::credential(c, &sid)).await?;
            match cred {
                // The rack was deleted: it must register afresh (the answer
                // is signed with the shared secret, so the rack believes it).
                None => {
                    return Err(Error::NotFound("RackController"));
                }
                Some((_, None)) => return Err(refused()),
                Some((node, Some(k))) => (Some(node), k),
            }
        }
    };
    if !proto::verify(&key, req.method().as_str(), path, &signed, body) {
        return Err(refused());
    }
    let now = now();
    if (now - signed.ts).abs() > proto::MAX_SKEW_SECS {
        return Err(refused());
    }
    *key_out = key;
    let signer = rack.as_ref().map(|n| n.system_id.clone()).unwrap_or_default();
    let (nonce, ts) = (signed.nonce.to_string(), signed.ts);
    // Checked after the signature, so strangers cannot fill the table.
    state.db.write(move |c| engine::racks::record_nonce(c, &signer, &nonce, ts, now)).await?;
    Ok(Caller { rack })
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::BadRequest(format!("Malformed rack request: {e}.")))
}

/// The rack that signed; the shared secret only registers.
fn signing_rack(caller: &Caller, body_system_id: &str) -> Result<Node> {
    let Some(rack) = &caller.rack else {
        return Err(Error::Unauthorized(
            "The registration secret only registers racks: sign with the rack's own key.".into(),
        ));
    };
    if rack.system_id != body_system_id {
        return Err(Error::Forbidden(format!("Rack {} cannot act for rack {body_system_id}.", rack.system_id)));
    }
    Ok(rack.clone())
}

fn json<T: Serialize>(v: &T) -> HttpResponse {
    HttpResponse::Ok().json(v)
}

async fn dispatch(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    call: &str,
    key_out: &mut String,
) -> Result<HttpResponse> {
    // The signature covers the body, but a request without a current
    // signature header is refused before its body is read.
    let signed = req.headers().get(proto::AUTH_HEADER).and_then(|v| v.to_str().ok()).and_then(proto::parse_header);
    if signed.is_none_or(|s| (now() - s.ts).abs() > proto::MAX_SKEW_SECS) {
        return Err(refused());
    }
    let body = read_body_limited(payload, BODY_LIMIT).await?;
    let caller = authenticate(req, state, &body, key_out).await?;
    let method = req.method().as_str();
    let db = state.db.clone();
    let applied = |n: usize| json(&proto::Applied { applied: n });
    match (method, call) {
        ("POST", "register") => {
            let r: RegisterRequest = decode(&body)?;
            let signer = caller.rack.clone();
            let resp = db.write(move |c| engine::racks::register(c, &r, signer.as_ref())).await?;
            tracing::info!(system_id = %resp.system_id, new_key = resp.rack_key.is_some(), "rack registered");
            Ok(json(&resp))
        }
        ("POST", "sync") => {
            let r: SyncRequest = decode(&body)?;
            let rack = signing_rack(&caller, &r.system_id)?;
            let images = ephemeral_images(state).await?;
            let resp = engine::racks::sync_waiting(&db, rack, r, images, state.sent_configs.clone()).await?;
            Ok(json(&resp))
        }
        ("POST", "leases") => {
            let r: LeaseReport = decode(&body)?;
            let rack = signing_rack(&caller, &r.system_id)?;
            let n = db.write(move |c| engine::racks::record_leases(c, &rack, &r)).await?;
            Ok(applied(n))
        }
        ("POST", "boot-events") => {
            let r: BootEventReport = decode(&body)?;
            let rack = signing_rack(&caller, &r.system_id)?;
            let n = db.write(move |c| engine::racks::record_boot_events(c, &rack, &r)).await?;
            Ok(applied(n))
        }
        ("GET" | "HEAD", c) if c.starts_with("images/") => {
            let rack = signing_rack(&caller, caller.rack.as_ref().map(|n| n.system_id.as_str()).unwrap_or(""))?;
            let accepted = db.run(move |c| engine::racks::is_accepted(c, &rack)).await?;
            if !accepted {
                return Err(Error::Forbidden("Rack controller not accepted yet.".into()));
            }
            let sha = c.trim_start_matches("images/").to_ascii_lowercase();
            let path = engine::boot_resources::file_path(&state.config.data_dir, &sha)
                .ok_or(Error::NotFound("BootResourceFile"))?;
            let size = std::fs::metadata(&path).map_err(|e| Error::Internal(format!("boot file {sha}: {e}")))?.len();
            Ok(ironpool_common::http_files::serve_file(req, path, size).await)
        }
        ("POST", "power-results") => {
            let r: proto::PowerResultReport = decode(&body)?;
            let rack = signing_rack(&caller, &r.system_id)?;
            let n = db.write(move |c| engine::racks::record_power_results(c, &rack, &r)).await?;
            Ok(applied(n))
        }
        (_, "register" | "sync" | "leases" | "boot-events" | "power-results") => {
            Err(Error::MethodNotAllowed { allow: vec!["POST"] })
        }
        _ => Err(Error::UnknownEndpoint(format!("{}{call}", proto::RPC_PREFIX))),
    }
}

/// The commissioning environment racks boot (and the deployable images): the newest complete amd64
/// boot resource that has both a `boot-kernel` and a `boot-initrd` file
/// (imported from a mirror or built by `ironpool-agent`'s image script).
async fn ephemeral_images(state: &AppState) -> Result<BootImages> {
    let all = engine::boot_resources::complete_resources(&state.db, &state.config.data_dir).await?;
    let pick = |img: &engine::boot_resources::BootImage, ftype: &str| {
        img.files.iter().find(|f| f.filetype == ftype).map(|f| ImageRef {
            sha256: f.sha256.clone(),
            size: f.size,
            name: format!("{}/{}/{}", img.name, img.arch, ftype),
        })
    };
    let deploy = all
        .iter()
        .flat_map(|i| {
            i.files.iter().filter(|f| ironpool_common::deploy::packing(&f.filetype).is_some()).map(|f| ImageRef {
                sha256: f.sha256.clone(),
                size: f.size,
                name: format!("{}/{}/{}", i.name, i.arch, f.filetype),
            })
        })
        .collect();
    // A resource that is only a kernel and an initrd is an ephemeral
    // environment; one that also carries a root filesystem or disk image is
    // an OS to deploy (its kernel boots that OS, not the agent), so it is
    // the commissioning environment only when nothing else is there.
    let deployable = |i: &&engine::boot_resources::BootImage| {
        i.files.iter().any(|f| ironpool_common::deploy::packing(&f.filetype).is_some())
    };
    let amd64: Vec<&engine::boot_resources::BootImage> = all.iter().filter(|i| i.arch == "amd64").collect();
    let newest_first = |only_boot: bool| {
        let mut v: Vec<&engine::boot_resources::BootImage> =
            amd64.iter().copied().filter(|i| !only_boot || !deployable(i)).collect();
        v.sort_by_key(|i| std::cmp::Reverse(i.id));
        v
    };
    let ephemeral = newest_first(true)
        .into_iter()
        .chain(newest_first(false))
        .find_map(|i| Some((pick(i, "boot-kernel")?, pick(i, "boot-initrd")?)));
    let (kernel, initrd) = ephemeral.map(|(k, i)| (Some(k), Some(i))).unwrap_or_default();
    Ok(BootImages { kernel, initrd, deploy })
}
