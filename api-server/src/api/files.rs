//! `files/` and `files/{filename}/`: per-user blob storage (Juju's provider
//! storage). Files are private to their owner, except through the anonymous
//! `get_by_key` URL each file advertises.

use actix_web::http::StatusCode;

use crate::api::views::file::file_json;
use crate::db;
use crate::engine;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::{Reply, JSON_UTF8};
use crate::http::Ctx;

/// Uploads may be large (Juju stores tools and state); other calls are small.
const MAX_UPLOAD: usize = 512 * 1024 * 1024;

pub fn handlers() -> Vec<Handler> {
    let by_key = || {
        Action::new(Method::Get, Some("get_by_key"), "Get a file by key", handler_fn!(get_by_key))
            .returns(Returns::Bytes("application/octet-stream"))
            .describe("Works anonymously: this is what a file's anon_resource_uri points at.")
            .params(&[required("key", "String", "The file's key.")])
    };
    vec![
        Handler::new(
            "FilesHandler",
            "files/",
            Access::Authenticated,
            "Manage the collection of all the files in this MAAS",
        )
        .action(Action::new(Method::Get, None, "List files", handler_fn!(list)).params(&[optional(
            "prefix",
            "String",
            "Only files whose name starts with this string.",
        )]))
        .action(
            Action::new(Method::Post, None, "Add a new file", handler_fn!(add))
                .returns(Returns::Nothing(201))
                .describe("Multipart: a filename field and one file part. An existing file of that name is replaced.")
                .params(&[required("filename", "String", "The file's name."), required("file", "File", "The content.")])
                .max_body(MAX_UPLOAD)
                .streams_files(),
        )
        .action(Action::new(Method::Delete, None, "Delete a file", handler_fn!(delete_by_query)).params(&[required(
            "filename",
            "String",
            "The file's name.",
        )]))
        .action(
            Action::new(Method::Get, Some("get"), "Get a named file", handler_fn!(get_raw))
                .returns(Returns::Bytes("application/octet-stream"))
                .params(&[required("filename", "String", "The file's name.")]),
        )
        .action(by_key()),
        Handler::new("AnonFilesHandler", "files/", Access::Anonymous, "Anonymous file operations")
            .describe("Files are reachable anonymously only by their key.")
            .paired_with("FilesHandler")
            .action(by_key()),
        Handler::new("FileHandler", "files/{filename}/", Access::Authenticated, "Manage a FileStorage object")
            .greedy("filename")
            .action(
                Action::new(Method::Get, None, "Read a stored file", handler_fn!(read))
                    .describe("The content is base64-encoded."),
            )
            .action(Action::new(Method::Delete, None, "Delete a FileStorage object", handler_fn!(delete_one))),
    ]
}

async fn list(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let prefix = ctx.params.get_nonempty("prefix").map(str::to_string);
    let files = ctx.db().run(move |c| db::files::list(c, user.id, prefix.as_deref())).await?;
    let owner = ctx.user()?.username.clone();
    Ok(Reply::json(files.iter().map(|f| file_json(f, &owner)).collect::<Vec<_>>()))
}

fn new_key() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The upload arrives as a spool file, written while the body was parsed
/// (`streams_files`); the engine moves it into the content store, so the
/// content is never in memory nor in a database transaction (engine::files).
async fn add(mut ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let filename = ctx.params.required("filename")?.to_string();
    if ctx.params.files().len() != 1 {
        return Err(Error::BadRequest(format!("Exactly one file must be uploaded; got {}.", ctx.params.files().len())));
    }
    let name = ctx.params.files()[0].name.clone();
    let part = ctx.params.take_files(&name).pop().ok_or_else(|| Error::required("file"))?;
    engine::files::put(ctx.db(), &ctx.state.files, user.id, filename, new_key(), part.into_spooled()?).await?;
    Ok(Reply::Empty(StatusCode::CREATED))
}

async fn open(ctx: &Ctx, meta: Option<db::files::FileMeta>) -> Result<engine::files::Content> {
    let meta = meta.ok_or(Error::NotFound("FileStorage"))?;
    engine::files::open(ctx.db(), &ctx.state.files, meta).await
}

async fn get_raw(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let filename = ctx.params.required("filename")?.to_string();
    let meta = ctx.db().run(move |c| db::files::get(c, user.id, &filename)).await?;
    let content = open(&ctx, meta).await?;
    Ok(Reply::File { content_type: "application/octet-stream", file: content.file, len: content.len, wrap: None })
}

async fn get_by_key(ctx: Ctx) -> Result<Reply> {
    let key = ctx.params.required("key")?.to_string();
    let meta = ctx.db().run(move |c| db::files::by_key(c, &key)).await?;
    let content = open(&ctx, meta).await?;
    Ok(Reply::File { content_type: "application/octet-stream", file: content.file, len: content.len, wrap: None })
}

/// MAAS's shape: the file's object with its content base64-encoded in
/// `content`, streamed from disk inside the JSON text.
async fn read(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let filename = ctx.path("filename").to_string();
    let meta = ctx.db().run(move |c| db::files::get(c, user.id, &filename)).await?;
    let content = open(&ctx, meta).await?;
    let head = file_json(&content.meta, &ctx.user()?.username).to_string();
    let head = head.strip_suffix('}').ok_or_else(|| Error::Internal("a file's view is not an object".into()))?;
    let prefix = format!("{head},\"content\":\"").into_bytes();
    Ok(Reply::File {
        content_type: JSON_UTF8,
        file: content.file,
        len: content.len,
        wrap: Some((prefix, b"\"}".to_vec())),
    })
}

async fn delete_named(ctx: &Ctx, filename: String) -> Result<Reply> {
    let user = ctx.user()?.clone();
    if engine::files::delete(ctx.db(), &ctx.state.files, user.id, filename).await? {
        Ok(Reply::NoContent)
    } else {
        Err(Error::NotFound("FileStorage"))
    }
}

async fn delete_one(ctx: Ctx) -> Result<Reply> {
    let filename = ctx.path("filename").to_string();
    delete_named(&ctx, filename).await
}

async fn delete_by_query(ctx: Ctx) -> Result<Reply> {
    let filename = ctx.params.required("filename")?.to_string();
    delete_named(&ctx, filename).await
}
