//! The region's end of the rack link (`/MAAS/rpc/v1/…`): authenticates
//! every request against the shared secret, then hands the decoded body to
//! `engine::racks`. The protocol is described in
//! `ironpool_common::rack_link` and docs/rack-link.md.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use ironpool_common::rack_link::{self as proto, BootEventReport, ImageRef, LeaseReport, RegisterRequest, SyncRequest};
use serde::de::DeserializeOwned;

use crate::engine;
use crate::engine::racks::BootImages;
use crate::error::{Error, Result};
use crate::http::error::to_response;
use crate::http::router::read_body_limited;
use crate::http::AppState;

/// Lease batches can be large after an outage; nothing else comes close.
const BODY_LIMIT: usize = 16 << 20;

pub async fn handle(req: &HttpRequest, payload: web::Payload, state: Arc<AppState>, call: &str) -> HttpResponse {
    match dispatch(req, payload, state, call).await {
        Ok(r) => r,
        Err(e) => to_response(&e),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Checks the signature header; one message for every failure, so a caller
/// learns nothing about which part was wrong.
fn refused() -> Error {
    Error::Unauthorized("Rack authentication failed: check the shared secret (`ironpool secret`).".into())
}

fn authenticate(req: &HttpRequest, state: &AppState, body: &[u8]) -> Result<()> {
    let header = req.headers().get(proto::AUTH_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(refused)?;
    let signed = proto::parse_header(header).ok_or_else(refused)?;
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
    if !proto::verify(&state.rack_secret, req.method().as_str(), path, &signed, body) {
        return Err(refused());
    }
    let now = now();
    if (now - signed.ts).abs() > proto::MAX_SKEW_SECS {
        return Err(refused());
    }
    // Checked after the signature, so strangers cannot fill the cache.
    if !state.nonces.check_and_record("rack", signed.nonce, signed.ts, now, proto::MAX_SKEW_SECS) {
        return Err(refused());
    }
    Ok(())
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::BadRequest(format!("Malformed rack request: {e}.")))
}

async fn dispatch(req: &HttpRequest, payload: web::Payload, state: Arc<AppState>, call: &str) -> Result<HttpResponse> {
    // The signature covers the body, but a request without a current
    // signature header is refused before its body is read.
    let signed = req.headers().get(proto::AUTH_HEADER).and_then(|v| v.to_str().ok()).and_then(proto::parse_header);
    if signed.is_none_or(|s| (now() - s.ts).abs() > proto::MAX_SKEW_SECS) {
        return Err(refused());
    }
    let body = read_body_limited(payload, BODY_LIMIT).await?;
    authenticate(req, &state, &body)?;
    let method = req.method().as_str();
    let db = state.db.clone();
    let applied = |n: usize| HttpResponse::Ok().json(proto::Applied { applied: n });
    match (method, call) {
        ("POST", "register") => {
            let r: RegisterRequest = decode(&body)?;
            let resp = db.write(move |c| engine::racks::register(c, &r)).await?;
            tracing::info!(system_id = %resp.system_id, "rack registered");
            Ok(HttpResponse::Ok().json(resp))
        }
        ("POST", "sync") => {
            let r: SyncRequest = decode(&body)?;
            let images = ephemeral_images(&state).await?;
            let resp = db.write(move |c| engine::racks::sync(c, &r, &images)).await?;
            Ok(HttpResponse::Ok().json(resp))
        }
        ("POST", "leases") => {
            let r: LeaseReport = decode(&body)?;
            let n = db.write(move |c| engine::racks::record_leases(c, &r)).await?;
            Ok(applied(n))
        }
        ("POST", "boot-events") => {
            let r: BootEventReport = decode(&body)?;
            let n = db.write(move |c| engine::racks::record_boot_events(c, &r)).await?;
            Ok(applied(n))
        }
        ("GET" | "HEAD", c) if c.starts_with("images/") => {
            let sha = c.trim_start_matches("images/").to_ascii_lowercase();
            let path = engine::boot_resources::file_path(&state.config.data_dir, &sha)
                .ok_or(Error::NotFound("BootResourceFile"))?;
            let size = std::fs::metadata(&path).map_err(|e| Error::Internal(format!("boot file {sha}: {e}")))?.len();
            Ok(ironpool_common::http_files::serve_file(req, path, size).await)
        }
        ("POST", "power-results") => {
            let r: proto::PowerResultReport = decode(&body)?;
            let n = db.write(move |c| engine::racks::record_power_results(c, &r)).await?;
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
    let ephemeral = all
        .iter()
        .filter(|i| i.arch == "amd64")
        .max_by_key(|i| i.id)
        .into_iter()
        .chain(all.iter().filter(|i| i.arch == "amd64").rev())
        .find_map(|i| Some((pick(i, "boot-kernel")?, pick(i, "boot-initrd")?)));
    let (kernel, initrd) = ephemeral.map(|(k, i)| (Some(k), Some(i))).unwrap_or_default();
    Ok(BootImages { kernel, initrd, deploy })
}
