//! `boot-resources/` (images: list, upload, MAAS's chunked upload, import
//! ops), `boot-sources/` and their `selections/`. Reads of boot resources
//! are open to every user (clients derive their architecture vocabulary from
//! them); every write, and everything about boot sources, is admin-only.

use actix_web::http::StatusCode;
use futures_util::StreamExt;

use crate::api::views::boot_resource::{detail_json, resource_json, selection_json, source_json};
use crate::db;
use crate::db::boot_resources::{BootSource, Selection};
use crate::engine;
use crate::engine::boot_resources::{SourceInput, UploadInput};
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

/// Inline (`content`) uploads are spooled to disk as they arrive
/// (`streams_files`); the chunked protocol streams to disk too.
pub const MAX_INLINE_UPLOAD: usize = 1024 * 1024 * 1024;

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new("BootResourcesHandler", "boot-resources/", Access::Authenticated, "Manage the boot resources")
            .action(Action::new(Method::Get, None, "List boot resources", handler_fn!(list)).params(&[optional(
                "type",
                "String",
                "synced, generated, uploaded or all (the default).",
            )]))
            .action(
                Action::new(Method::Post, None, "Upload a boot resource", handler_fn!(create))
                    .returns(Returns::ObjectStatus(201))
                    .describe(
                        "Either with the content inline (a `content` file part) or with sha256 and size only, \
                         then PUT the content in chunks (application/octet-stream) to the file's upload_uri.",
                    )
                    .params(&[
                        required("name", "String", "os/series or a custom name."),
                        required("architecture", "String", "arch/subarch, e.g. amd64/generic."),
                        optional("title", "String", "Title shown for the image."),
                        optional(
                            "filetype",
                            "String",
                            "tgz (default), tbz, txz, ddtgz, ddtbz, ddtxz, ddtar, ddbz2, ddgz, ddxz or ddraw.",
                        ),
                        optional("base_image", "String", "For custom images: the os/series they are based on."),
                        optional("sha256", "String", "SHA-256 of the content (required without content)."),
                        optional("size", "Int", "Size of the content in bytes (required without content)."),
                        optional("content", "File", "The image itself."),
                    ])
                    .max_body(MAX_INLINE_UPLOAD)
                    .streams_files(),
            )
            .action(
                Action::new(Method::Post, Some("import"), "Import the boot resources", handler_fn!(import))
                    .returns(Returns::Text(200))
                    .describe("Starts importing from the boot sources in the background."),
            )
            .action(
                Action::new(
                    Method::Post,
                    Some("stop_import"),
                    "Stop import of boot resources",
                    handler_fn!(stop_import),
                )
                .returns(Returns::Text(200)),
            )
            .action(
                Action::new(Method::Get, Some("is_importing"), "Import status", handler_fn!(is_importing))
                    .returns(Returns::AnyJson),
            ),
        Handler::new("BootResourceHandler", "boot-resources/{id}/", Access::Authenticated, "Manage a boot resource")
            .action(Action::new(Method::Get, None, "Read a boot resource", handler_fn!(read)))
            .action(Action::new(Method::Delete, None, "Delete a boot resource", handler_fn!(delete))),
        Handler::new(
            "BootResourceFileUploadHandler",
            "boot-resources/{id}/upload/{file_id}/",
            Access::Authenticated,
            "Upload a boot resource file",
        )
        .action(
            Action::new(Method::Put, None, "Upload chunk of boot resource file", handler_fn!(upload))
                .returns(Returns::Text(200))
                .describe(
                    "The body is the next chunk of the file (Content-Type: application/octet-stream). The file is \
                     complete when size bytes have arrived and their SHA-256 matches.",
                )
                .raw_body(),
        ),
        Handler::new("BootSourcesHandler", "boot-sources/", Access::Authenticated, "Manage the boot sources")
            .action(Action::new(Method::Get, None, "List boot sources", handler_fn!(sources_list)))
            .action(
                Action::new(Method::Post, None, "Create a boot source", handler_fn!(source_create))
                    .returns(Returns::ObjectStatus(201))
                    .params(&[
                        required("url", "String", "The simplestreams mirror: http(s)://, file:// or a path."),
                        optional(
                            "keyring_filename",
                            "String",
                            "Absolute path, on the region, of the binary GPG keyring the mirror's signed \
                             streams (index.sjson, products .sjson) are verified with. One of keyring_filename \
                             or keyring_data is required unless skip_keyring_verification is true.",
                        ),
                        optional("keyring_data", "File", "The binary GPG keyring itself (gpg --export)."),
                        optional(
                            "skip_keyring_verification",
                            "Boolean",
                            "If true, the mirror's unsigned index.json and products .json are imported \
                             without signature verification (default false).",
                        ),
                    ]),
            ),
        Handler::new("BootSourceHandler", "boot-sources/{id}/", Access::Authenticated, "Manage a boot source")
            .action(Action::new(Method::Get, None, "Read a boot source", handler_fn!(source_read)))
            .action(Action::new(Method::Put, None, "Update a boot source", handler_fn!(source_update)).params(&[
                optional("url", "String", "The simplestreams mirror."),
                optional("keyring_filename", "String", "Absolute path of the binary GPG keyring, on the region."),
                optional("keyring_data", "File", "The binary GPG keyring itself."),
                optional(
                    "skip_keyring_verification",
                    "Boolean",
                    "If true, import without verifying the mirror's signatures.",
                ),
            ]))
            .action(Action::new(Method::Delete, None, "Delete a boot source", handler_fn!(source_delete))),
        Handler::new(
            "BootSourceSelectionsHandler",
            "boot-sources/{boot_source_id}/selections/",
            Access::Authenticated,
            "Manage the collection of boot source selections",
        )
        .action(Action::new(Method::Get, None, "List boot-source selections", handler_fn!(selections_list)))
        .action(
            Action::new(Method::Post, None, "Create a boot-source selection", handler_fn!(selection_create))
                .returns(Returns::ObjectStatus(201))
                .params(&SELECTION_PARAMS),
        ),
        Handler::new(
            "BootSourceSelectionHandler",
            "boot-sources/{boot_source_id}/selections/{id}/",
            Access::Authenticated,
            "Manage a boot source selection",
        )
        .action(Action::new(Method::Get, None, "Read a boot source selection", handler_fn!(selection_read)))
        .action(
            Action::new(Method::Put, None, "Update a boot-source selection", handler_fn!(selection_update))
                .params(&SELECTION_PARAMS),
        )
        .action(Action::new(
            Method::Delete,
            None,
            "Delete a boot source selection",
            handler_fn!(selection_delete),
        )),
    ]
}

const SELECTION_PARAMS: [http::registry::ParamDoc; 5] = [
    optional("os", "String", "The operating system (ubuntu); required on create."),
    optional("release", "String", "The release (jammy); required on create."),
    optional("arches", "String", "Architectures to import (repeat or comma-separate; * for all)."),
    optional("subarches", "String", "Subarchitectures to import (* for all)."),
    optional("labels", "String", "Labels to import (* for all)."),
];

fn path_id(ctx: &Ctx, name: &str, model: &'static str) -> Result<i64> {
    ctx.path(name).parse().map_err(|_| Error::NotFound(model))
}

// ---------------------------------------------------------------- rendering

// ---------------------------------------------------------------- boot resources

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let rtype = engine::boot_resources::parse_type_filter(ctx.params.get("type"))?;
    let rs = engine::boot_resources::list(ctx.db(), rtype).await?;
    Ok(Reply::json(rs.iter().map(resource_json).collect::<Vec<_>>()))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let id = path_id(&ctx, "id", "BootResource")?;
    let d = engine::boot_resources::detail(ctx.db(), &ctx.state.images, id).await?;
    Ok(Reply::Json(detail_json(&d)))
}

async fn create(mut ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let mut parts = ctx.params.take_files("content");
    if parts.len() > 1 {
        return Err(Error::field("content", "Upload one content file."));
    }
    let content = parts.pop().map(|p| p.into_spooled()).transpose()?;
    let p = &ctx.params;
    let size = match p.get_nonempty("size") {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| Error::field("size", format!("'{s}' is not a whole number.")))?),
    };
    let input = UploadInput {
        name: p.required("name")?.to_string(),
        architecture: p.required("architecture")?.to_string(),
        title: p.get_nonempty("title").unwrap_or("").to_string(),
        filetype: p.get_nonempty("filetype").unwrap_or("").to_string(),
        base_image: p.get_nonempty("base_image").unwrap_or("").to_string(),
        sha256: p.get_nonempty("sha256").map(str::to_string),
        size,
        content,
    };
    let id = engine::boot_resources::create(ctx.db(), &ctx.state.images, input).await?;
    let d = engine::boot_resources::detail(ctx.db(), &ctx.state.images, id).await?;
    Ok(Reply::JsonStatus(StatusCode::CREATED, detail_json(&d)))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "id", "BootResource")?;
    engine::boot_resources::delete(ctx.db(), &ctx.state.images, id).await?;
    Ok(Reply::NoContent)
}

async fn upload(mut ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "id", "BootResource")?;
    let file_id = path_id(&ctx, "file_id", "BootResourceFile")?;
    let mut body = ctx.body.take().ok_or_else(|| {
        Error::BadRequest("Send the chunk as the raw body with Content-Type: application/octet-stream.".into())
    })?;
    let mut up = engine::boot_resources::begin_upload(ctx.db(), &ctx.state.images, id, file_id).await?;
    while let Some(piece) = body.next().await {
        let written = match piece {
            Ok(bytes) => up.write(&bytes).await,
            Err(e) => Err(Error::BadRequest(format!("The upload was interrupted: {e}."))),
        };
        if let Err(e) = written {
            up.abort().await;
            return Err(e);
        }
    }
    up.finish(ctx.db()).await?;
    Ok(Reply::Text(StatusCode::OK, "OK".into()))
}

async fn import(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let st = &ctx.state;
    st.importer.start(st.db.clone(), st.images.clone());
    Ok(Reply::Text(StatusCode::OK, "Import of boot resources started".into()))
}

async fn stop_import(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    ctx.state.importer.stop();
    Ok(Reply::Text(StatusCode::OK, "Import of boot resources is being stopped".into()))
}

async fn is_importing(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    Ok(Reply::Json(serde_json::Value::Bool(ctx.state.importer.is_importing())))
}

// ---------------------------------------------------------------- boot sources

async fn source_of(ctx: &Ctx, name: &str) -> Result<BootSource> {
    let id = path_id(ctx, name, "BootSource")?;
    ctx.db().run(move |c| db::boot_resources::source(c, id)).await?.ok_or(Error::NotFound("BootSource"))
}

fn keyring(ctx: &Ctx) -> Option<Vec<u8>> {
    ctx.params
        .files()
        .iter()
        .find(|f| f.name == "keyring_data")
        .and_then(|f| f.in_memory().ok())
        .map(<[u8]>::to_vec)
        .or_else(|| ctx.params.get("keyring_data").map(|s| s.as_bytes().to_vec()))
}

async fn sources_list(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let all = ctx.db().run(db::boot_resources::sources).await?;
    Ok(Reply::json(all.iter().map(source_json).collect::<Vec<_>>()))
}

/// The boot source fields of a request; absent = unchanged.
fn source_input(ctx: &Ctx) -> Result<SourceInput> {
    Ok(SourceInput {
        url: ctx.params.get_nonempty("url").map(str::to_string),
        keyring_filename: ctx.params.get("keyring_filename").map(str::to_string),
        keyring_data: keyring(ctx),
        skip_keyring_verification: ctx.params.bool("skip_keyring_verification")?,
    })
}

async fn source_create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    ctx.params.required("url")?;
    let s = engine::boot_resources::create_source(ctx.db(), source_input(&ctx)?).await?;
    Ok(Reply::JsonStatus(StatusCode::CREATED, source_json(&s)))
}

async fn source_read(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    Ok(Reply::Json(source_json(&source_of(&ctx, "id").await?)))
}

async fn source_update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = path_id(&ctx, "id", "BootSource")?;
    let s = engine::boot_resources::update_source(ctx.db(), id, source_input(&ctx)?).await?;
    Ok(Reply::Json(source_json(&s)))
}

async fn source_delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let s = source_of(&ctx, "id").await?;
    ctx.db().write(move |c| db::boot_resources::source_delete(c, s.id)).await?;
    Ok(Reply::NoContent)
}

// ---------------------------------------------------------------- selections

fn apply_selection(ctx: &Ctx, s: &mut Selection) -> Result<()> {
    let p = &ctx.params;
    if let Some(os) = p.get_nonempty("os") {
        s.os = os.to_string();
    }
    if let Some(r) = p.get_nonempty("release") {
        s.release = r.to_string();
    }
    for (name, slot) in [("arches", &mut s.arches), ("subarches", &mut s.subarches), ("labels", &mut s.labels)] {
        if p.contains(name) {
            *slot = engine::boot_resources::join_list(&p.get_all(name));
        }
    }
    if s.os.is_empty() {
        return Err(Error::required("os"));
    }
    if s.release.is_empty() {
        return Err(Error::required("release"));
    }
    for v in [&s.os, &s.release] {
        if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
            return Err(Error::BadRequest(format!("'{v}' is not a valid os or release name.")));
        }
    }
    Ok(())
}

async fn selections_list(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let src = source_of(&ctx, "boot_source_id").await?;
    let all = ctx.db().run(move |c| db::boot_resources::selections(c, Some(src.id))).await?;
    Ok(Reply::json(all.iter().map(selection_json).collect::<Vec<_>>()))
}

async fn selection_create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let src = source_of(&ctx, "boot_source_id").await?;
    let mut s = Selection {
        id: 0,
        boot_source_id: src.id,
        os: String::new(),
        release: String::new(),
        arches: "*".into(),
        subarches: "*".into(),
        labels: "*".into(),
    };
    apply_selection(&ctx, &mut s)?;
    let s = ctx
        .db()
        .write(move |c| {
            let id = db::boot_resources::selection_insert(c, &s)?;
            db::boot_resources::selection(c, s.boot_source_id, id)?
                .ok_or_else(|| Error::Internal("inserted selection vanished".into()))
        })
        .await?;
    Ok(Reply::JsonStatus(StatusCode::CREATED, selection_json(&s)))
}

async fn selection_of(ctx: &Ctx) -> Result<Selection> {
    let src = source_of(ctx, "boot_source_id").await?;
    let id = path_id(ctx, "id", "BootSourceSelection")?;
    ctx.db()
        .run(move |c| db::boot_resources::selection(c, src.id, id))
        .await?
        .ok_or(Error::NotFound("BootSourceSelection"))
}

async fn selection_read(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    Ok(Reply::Json(selection_json(&selection_of(&ctx).await?)))
}

async fn selection_update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let mut s = selection_of(&ctx).await?;
    apply_selection(&ctx, &mut s)?;
    let s2 = s.clone();
    ctx.db().write(move |c| db::boot_resources::selection_update(c, &s2)).await?;
    Ok(Reply::Json(selection_json(&s)))
}

async fn selection_delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let s = selection_of(&ctx).await?;
    ctx.db().write(move |c| db::boot_resources::selection_delete(c, s.id)).await?;
    Ok(Reply::NoContent)
}
