//! `/MAAS/r/images`: boot resources (synced and uploaded images) with their
//! newest version, size, last update and how complete they are; the import
//! from the boot sources (start, stop, whether one runs and what the last
//! one did); for administrators the boot sources with their selections
//! (add, delete) and the upload of a custom image.
//!
//! Reading: the API's `boot-resources/` list has no sets or files, and its
//! per-resource read would cost queries per image, so the table reads the
//! resources, their sets and files, the sources and the selections in four
//! queries (`db::boot_resources`), whatever their numbers. How much of an
//! incomplete file has arrived is the size of its partial file in the image
//! store (what the API's `progress` reports). Whether an import runs is the
//! API's `?op=is_importing`; what the last one did is the importer's report.
//! While an import runs the page asks the browser to reload it every few
//! seconds (a `Refresh` header, so no script is needed); idle, it does not.
//!
//! Every change is an API action (`boot-resources/`, `boot-sources/`,
//! `…/selections/`), so the engine checks names, architectures, file types
//! and keyrings and its words appear in the form. The upload form is
//! multipart: its body is parsed as it arrives and the image written to a
//! spool file (as the API's dispatcher does for `boot-resources/`), then
//! handed to the API's create action, which checks and stores it.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use ironpool_common::http_body::{self, ReadError};
use maud::{html, Markup};
use serde_json::Value;

use crate::api::boot_resources::MAX_INLINE_UPLOAD;
use crate::db;
use crate::db::boot_resources::{BootSource, Resource, ResourceFile, ResourceSet, Selection};
use crate::engine;
use crate::engine::boot_resources::{type_name, ARCHES, UPLOADED, UPLOAD_FILETYPES};
use crate::engine::image_import::ImportReport;
use crate::error::{Error, Result};
use crate::http::params::{Params, StreamedMultipart};
use crate::http::registry::Method;
use crate::http::AppState;
use crate::ui::calls;
use crate::ui::forms::{self, Notice};
use crate::ui::layout::{self, bytes, csrf};
use crate::ui::networks::{fields, id_key, select};
use crate::ui::respond::{form, html as page_response};
use crate::ui::viewer::{Viewer, CSRF_FIELD};

/// How often a page showing a running import reloads itself (seconds).
const REFRESH_SECS: u32 = 5;

/// One resource: its newest set and that set's files, each with the bytes
/// that have arrived.
struct Image {
    resource: Resource,
    set: Option<ResourceSet>,
    files: Vec<(ResourceFile, u64)>,
}

impl Image {
    fn size(&self) -> u64 {
        self.files.iter().map(|(f, _)| f.size.max(0) as u64).sum()
    }

    fn received(&self) -> u64 {
        self.files.iter().map(|(f, got)| if f.complete { f.size.max(0) as u64 } else { *got }).sum()
    }

    fn complete(&self) -> bool {
        !self.files.is_empty() && self.files.iter().all(|(f, _)| f.complete)
    }
}

/// A boot source with its selections.
struct Source {
    source: BootSource,
    selections: Vec<Selection>,
}

/// Everything the page shows.
struct Page {
    images: Vec<Image>,
    /// `None` for a non-admin: the API shows boot sources to administrators only.
    sources: Option<Vec<Source>>,
    importing: bool,
    last: Option<ImportReport>,
}

async fn load(state: &Arc<AppState>, viewer: &Viewer) -> Result<Page> {
    let admin = viewer.is_admin();
    let (resources, sets, files, sources) = state
        .db
        .run(move |c| {
            let resources = db::boot_resources::list(c, None)?;
            let ids: Vec<i64> = resources.iter().map(|r| r.id).collect();
            let (sets, files) = db::boot_resources::sets_and_files(c, &ids)?;
            let sources = if admin {
                let sels = db::boot_resources::selections(c, None)?;
                let list = db::boot_resources::sources(c)?;
                Some(
                    list.into_iter()
                        .map(|s| Source {
                            selections: sels.iter().filter(|x| x.boot_source_id == s.id).cloned().collect(),
                            source: s,
                        })
                        .collect::<Vec<_>>(),
                )
            } else {
                None
            };
            Ok((resources, sets, files, sources))
        })
        .await?;
    // Sets come in id order: the last one of a resource is its newest.
    let mut newest: HashMap<i64, ResourceSet> = HashMap::new();
    for s in sets {
        newest.insert(s.resource_id, s);
    }
    let mut by_set: HashMap<i64, Vec<(ResourceFile, u64)>> = HashMap::new();
    for f in files {
        let got = if f.complete { f.size.max(0) as u64 } else { state.images.partial_len(&f.sha256) };
        by_set.entry(f.set_id).or_default().push((f, got));
    }
    let images = resources
        .into_iter()
        .map(|r| {
            let set = newest.remove(&r.id);
            let files = set.as_ref().and_then(|s| by_set.remove(&s.id)).unwrap_or_default();
            Image { resource: r, set, files }
        })
        .collect();
    let importing = calls::json(state, viewer, Method::Get, "boot-resources/", Some("is_importing"), vec![]).await?
        == Value::Bool(true);
    Ok(Page { images, sources, importing, last: state.importer.last_report() })
}

/// `GET /MAAS/r/images` (and the answer to a change).
pub async fn page(state: &Arc<AppState>, viewer: &Viewer, notice: Option<Notice>) -> Result<HttpResponse> {
    let p = load(state, viewer).await?;
    let status = Notice::status(&notice);
    let mut resp = page_response(status, layout::page(viewer, "Images", "images", &[], render(viewer, &p, &notice)));
    if p.importing {
        // Back to the list's own URL: the page may be the answer to a POST.
        let v = format!("{REFRESH_SECS}; url=/MAAS/r/images");
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(HeaderName::from_static("refresh"), v);
        }
    }
    Ok(resp)
}

fn when(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How complete an image is, as words.
fn status(i: &Image) -> String {
    if i.complete() {
        return "Complete".into();
    }
    if i.files.is_empty() {
        return "No files".into();
    }
    let (got, size) = (i.received(), i.size());
    let pct = if size == 0 { 100.0 } else { got.min(size) as f64 * 100.0 / size as f64 };
    let verb = if i.resource.rtype == UPLOADED { "Uploading" } else { "Downloading" };
    format!("{verb} {pct:.0}% ({} of {})", bytes(got as i64), bytes(size as i64))
}

fn render(viewer: &Viewer, p: &Page, n: &Option<Notice>) -> Markup {
    let admin = viewer.is_admin();
    html! {
        h1 { "Images " span.count.muted { (p.images.len()) } }
        (forms::banner(n))
        (import_card(viewer, p, n))
        section.card #resources {
            h2 { "Boot resources" }
            @if p.images.is_empty() {
                p.empty-state { "No images yet: import them from a boot source, or upload one." }
            } @else {
                table.images {
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Architecture" }
                            th scope="col" { "Type" }
                            th scope="col" { "Version" }
                            th scope="col" .num { "Size" }
                            th scope="col" { "Last update" }
                            th scope="col" { "Status" }
                            @if admin { th scope="col" { span.visually-hidden { "Actions" } } }
                        }
                    }
                    tbody {
                        @for i in &p.images {
                            @let r = &i.resource;
                            @let label = format!("{} {}", r.name, r.architecture);
                            tr data-resource=(label) {
                                td { (r.name) @if r.title != r.name { br; span.sub { (r.title) } } }
                                td { (r.architecture) }
                                td { (type_name(r.rtype)) }
                                td { @if let Some(s) = &i.set { (s.version) } }
                                td.num { (bytes(i.size() as i64)) }
                                td { (when(&r.updated_at)) }
                                td data-field="image-status" { (status(i)) }
                                @if admin {
                                    td.row-actions {
                                        form.inline method="post" action="/MAAS/r/images/delete" {
                                            (csrf(viewer))
                                            input type="hidden" name="key" value=(r.id);
                                            (forms::error_in(n, &format!("delete:{}", r.id)))
                                            button.danger type="submit" aria-label={ "Delete " (label) } { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(sources) = &p.sources { (sources_card(viewer, sources, n)) }
        @if admin { (upload_card(viewer, n)) }
    }
}

fn import_card(viewer: &Viewer, p: &Page, n: &Option<Notice>) -> Markup {
    html! {
        section.card #import {
            h2 { "Import" }
            (forms::error_in(n, "import"))
            @if p.importing {
                p.notice role="status" #importing {
                    "Importing images from the boot sources. "
                    (p.images.iter().filter(|i| i.complete()).count()) " of " (p.images.len())
                    " images are complete so far; this page reloads every " (REFRESH_SECS) " seconds."
                }
                @if viewer.is_admin() {
                    form.inline method="post" action="/MAAS/r/images/stop-import" {
                        (csrf(viewer))
                        button.danger type="submit" { "Stop import" }
                    }
                }
            } @else {
                p #idle { "No import is running." }
                @if viewer.is_admin() {
                    form.inline method="post" action="/MAAS/r/images/import" {
                        (csrf(viewer))
                        button.primary type="submit" { "Import images" }
                    }
                    p.sub { "Downloads what the selections below ask for from each boot source, and removes synced images no selection wants any more." }
                }
            }
            @if let Some(r) = &p.last { (report(r)) }
        }
    }
}

/// What the last finished import did (since this region started).
fn report(r: &ImportReport) -> Markup {
    html! {
        div #last-import {
            h3 { "Last import" @if r.stopped { " (stopped)" } }
            dl.grid {
                dt { "Imported" } dd { @if r.imported.is_empty() { span.muted { "nothing new" } } @else { (r.imported.join(", ")) } }
                dt { "Already up to date" } dd { (r.unchanged.len()) }
                @if !r.removed.is_empty() { dt { "Removed" } dd { (r.removed.join(", ")) } }
            }
            @for f in &r.failures { p.error role="alert" { (f) } }
        }
    }
}

fn keyring(s: &BootSource) -> String {
    if s.skip_keyring_verification {
        "not verified (skip_keyring_verification)".into()
    } else if !s.keyring_filename.is_empty() {
        s.keyring_filename.clone()
    } else if !s.keyring_data.is_empty() {
        format!("keyring data ({} bytes)", s.keyring_data.len())
    } else {
        "none".into()
    }
}

fn sources_card(viewer: &Viewer, sources: &[Source], n: &Option<Notice>) -> Markup {
    html! {
        section.card #sources {
            h2 { "Boot sources " span.count.muted { (sources.len()) } }
            @if sources.is_empty() {
                p.empty-state { "No boot sources: add the simplestreams mirror to import from." }
            }
            @for s in sources {
                @let src = &s.source;
                div.source data-source=(src.url) {
                    h3 { code { (src.url) } }
                    p.sub { "Keyring: " (keyring(src)) }
                    @if s.selections.is_empty() {
                        p.muted { "Nothing selected: an import takes nothing from this source." }
                    } @else {
                        table.selections {
                            thead { tr { th scope="col" { "OS" } th scope="col" { "Release" } th scope="col" { "Architectures" } th scope="col" { "Subarchitectures" } th scope="col" { "Labels" } th scope="col" { span.visually-hidden { "Actions" } } } }
                            tbody {
                                @for sel in &s.selections {
                                    @let key = format!("{}/{}", src.id, sel.id);
                                    tr data-selection={ (sel.os) "/" (sel.release) } {
                                        td { (sel.os) }
                                        td { (sel.release) }
                                        td { (sel.arches) }
                                        td { (sel.subarches) }
                                        td { (sel.labels) }
                                        td.row-actions {
                                            form.inline method="post" action="/MAAS/r/images/selection-delete" {
                                                (csrf(viewer))
                                                input type="hidden" name="key" value=(key);
                                                (forms::error_in(n, &format!("selection-delete:{key}")))
                                                button.danger type="submit" aria-label={ "Delete selection " (sel.os) "/" (sel.release) } { "Delete" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @let id = format!("selection-create:{}", src.id);
                    details open[forms::is_failed(n, &id)] {
                        summary { "Add a selection" }
                        form.stacked method="post" action="/MAAS/r/images/selection-create" {
                            (csrf(viewer))
                            input type="hidden" name="key" value=(src.id);
                            (forms::error_in(n, &id))
                            label { "OS (e.g. ubuntu)" input type="text" name="os" value=(forms::value(n, &id, "os", "ubuntu")) required; }
                            label { "Release (e.g. noble)" input type="text" name="release" value=(forms::value(n, &id, "release", "")) required; }
                            label { "Architectures (comma-separated, * for all)" input type="text" name="arches" value=(forms::value(n, &id, "arches", "amd64")); }
                            button.primary type="submit" { "Add selection" }
                        }
                    }
                    form.inline method="post" action="/MAAS/r/images/source-delete" {
                        (csrf(viewer))
                        input type="hidden" name="key" value=(src.id);
                        (forms::error_in(n, &format!("source-delete:{}", src.id)))
                        button.danger type="submit" aria-label={ "Delete boot source " (src.url) } { "Delete source" }
                    }
                }
            }
            @let skip = match n {
                Some(Notice::Failed { form, values, .. }) if form == "source-create" => values.get("skip_keyring_verification").is_some(),
                _ => false,
            };
            details #add-source open[forms::is_failed(n, "source-create")] {
                summary { "Add a boot source" }
                form.stacked method="post" action="/MAAS/r/images/source-create" {
                    (csrf(viewer))
                    (forms::error_in(n, "source-create"))
                    label { "Mirror URL (http(s)://, file:// or an absolute path)" input type="text" name="url" value=(forms::value(n, "source-create", "url", "")) required; }
                    label { "Keyring file on the region (binary GPG keyring)" input type="text" name="keyring_filename" value=(forms::value(n, "source-create", "keyring_filename", "")); }
                    label.check { input type="checkbox" name="skip_keyring_verification" value="true" checked[skip]; " Import without verifying the mirror's signatures" }
                    button.primary type="submit" { "Add boot source" }
                }
            }
        }
    }
}

fn upload_card(viewer: &Viewer, n: &Option<Notice>) -> Markup {
    let val = |f: &str, d: &str| forms::value(n, "upload", f, d);
    let types: Vec<(String, String)> = UPLOAD_FILETYPES.iter().map(|(u, _)| (u.to_string(), u.to_string())).collect();
    html! {
        section.card #upload {
            h2 { "Upload a custom image" }
            form.stacked method="post" action="/MAAS/r/images/upload" enctype="multipart/form-data" {
                (csrf(viewer))
                (forms::error_in(n, "upload"))
                label { "Name (os/series or a custom name)" input type="text" name="name" value=(val("name", "")) required; }
                label { "Title" input type="text" name="title" value=(val("title", "")); }
                label { "Architecture (arch/subarch; arch one of " (ARCHES.join(", ")) ")"
                    input type="text" name="architecture" value=(val("architecture", "amd64/generic")) required; }
                label { "File type" (select("filetype", &types, &val("filetype", "tgz"))) }
                label { "Based on (os/series, for custom images; optional)" input type="text" name="base_image" value=(val("base_image", "")); }
                label { "Image file" input type="file" name="content" required; }
                button.primary type="submit" { "Upload" }
            }
        }
    }
}

fn read_error(e: ReadError) -> Error {
    match e {
        ReadError::TooLarge { limit } => Error::PayloadTooLarge { limit },
        ReadError::TimedOut => Error::RequestTimeout,
        ReadError::Broken(why) => Error::BadRequest(format!("Could not read the request body: {why}.")),
    }
}

/// Reads the upload form. Multipart (what the form sends) is parsed as it
/// arrives, its file part written to a spool file under the API action's
/// own limit; anything else is read as a small form (the API then says
/// what is missing).
async fn read_upload(req: &HttpRequest, mut payload: web::Payload, state: &Arc<AppState>) -> Result<Params> {
    let ct = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if !ct.trim_start().to_ascii_lowercase().starts_with("multipart/form-data") {
        return form(req, payload).await;
    }
    let mut upload = StreamedMultipart::new(&ct, state.spool.clone(), state.config.max_body_bytes)?;
    let mut pieces = http_body::Limited::new(req.headers(), &mut payload, MAX_INLINE_UPLOAD).map_err(read_error)?;
    while let Some(piece) = pieces.next().await {
        upload.push(&piece.map_err(read_error)?).await?;
    }
    let mut p = Params::default();
    upload.finish(&mut p).await?;
    Ok(p)
}

/// `POST /MAAS/r/images/upload`: administrators only.
pub async fn upload(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
) -> Result<HttpResponse> {
    // Refused before a byte of the body is read, so a non-admin's upload
    // never reaches the disk. The CSRF token travels inside the body and is
    // checked once it is read; the spool file goes with the parameters if
    // it fails (and the session cookie is SameSite, so another site's form
    // does not get this far with a session).
    engine::access::require_superuser(&viewer.user)?;
    let mut p = read_upload(req, payload, state).await?;
    viewer.check_csrf(&p)?;
    p.remove_where(|k| k == CSRF_FIELD);
    // A browser sends an empty, nameless file part when no file was chosen:
    // that is no content, not an empty image.
    if p.files().iter().any(|f| f.name == "content" && f.filename.is_empty()) {
        p.take_files("content");
    }
    // What was typed, for the form after a refusal; the file itself goes to
    // the API action alone (it takes the spool file over).
    let mut typed = Params::default();
    for (k, v) in p.pairs() {
        typed.push(k.clone(), v.clone());
    }
    let what = format!("{} ({})", typed.get("name").unwrap_or("").trim(), typed.get("architecture").unwrap_or(""));
    let notice = match calls::call_params(state, viewer, Method::Post, "boot-resources/", None, p).await {
        Ok(_) => Notice::Done(format!("Uploaded {what}.")),
        Err(e) => forms::refused(e, "upload", &typed)?,
    };
    page(state, viewer, Some(notice)).await
}

/// `(source id, selection id)` of a selection's delete form.
fn selection_key(p: &Params) -> Result<(String, String)> {
    let key = forms::key(p)?;
    match key.split_once('/') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() && (a.to_string() + b).chars().all(|c| c.is_ascii_digit()) => {
            Ok((a.to_string(), b.to_string()))
        }
        _ => Err(Error::field("key", "Choose what to change.")),
    }
}

/// Renders a confirmation page.
fn confirm(viewer: &Viewer, what: &str, action: &str, key: &str, note: &str) -> HttpResponse {
    let body = forms::confirm_delete(viewer, what, action, key, "/MAAS/r/images", note);
    page_response(StatusCode::OK, layout::page(viewer, "Images", "images", &[], body))
}

/// `POST /MAAS/r/images/{import|stop-import|delete|source-create|
/// source-delete|selection-create|selection-delete}`: administrators only.
pub async fn change(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<AppState>,
    viewer: &Viewer,
    what: &str,
) -> Result<HttpResponse> {
    let p = forms::admin_post(req, payload, viewer).await?;
    let notice = match what {
        "import" => {
            let call = (Method::Post, "boot-resources/".to_string(), Some("import"), vec![]);
            forms::run(state, viewer, call, "Import of boot resources started.".into(), "import", &p).await?
        }
        "stop-import" => {
            let call = (Method::Post, "boot-resources/".to_string(), Some("stop_import"), vec![]);
            forms::run(state, viewer, call, "Import of boot resources is being stopped.".into(), "import", &p).await?
        }
        "delete" => {
            let key = id_key(&p)?;
            let rel = format!("boot-resources/{key}/");
            if p.get("confirm").is_none() {
                let r = calls::json(state, viewer, Method::Get, &rel, None, vec![]).await?;
                let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let what = format!("image {} ({})", s("name"), s("architecture"));
                let note = "Its files are removed from this region; machines deployed with it keep running.";
                return Ok(confirm(viewer, &what, "/MAAS/r/images/delete", &key, note));
            }
            let call = (Method::Delete, rel, None, vec![]);
            forms::run(state, viewer, call, "Deleted the image.".into(), &format!("delete:{key}"), &p).await?
        }
        "source-create" => {
            let mut params = fields(&p, &["url", "keyring_filename"]);
            // An unticked box is absent from the form: verify.
            let skip = if p.get("skip_keyring_verification").is_some() { "true" } else { "false" };
            params.push(("skip_keyring_verification".into(), skip.into()));
            let done = format!("Added boot source {}.", p.get("url").unwrap_or("").trim());
            let call = (Method::Post, "boot-sources/".to_string(), None, params);
            forms::run(state, viewer, call, done, "source-create", &p).await?
        }
        "source-delete" => {
            let key = id_key(&p)?;
            let rel = format!("boot-sources/{key}/");
            if p.get("confirm").is_none() {
                let s = calls::json(state, viewer, Method::Get, &rel, None, vec![]).await?;
                let url = s.get("url").and_then(Value::as_str).unwrap_or("").to_string();
                let note = "Its selections go with it; images already imported stay until an import removes them.";
                return Ok(confirm(viewer, &format!("boot source {url}"), "/MAAS/r/images/source-delete", &key, note));
            }
            let call = (Method::Delete, rel, None, vec![]);
            forms::run(state, viewer, call, "Deleted the boot source.".into(), &format!("source-delete:{key}"), &p)
                .await?
        }
        "selection-create" => {
            let key = id_key(&p)?;
            let call = (
                Method::Post,
                format!("boot-sources/{key}/selections/"),
                None,
                fields(&p, &["os", "release", "arches"]),
            );
            let done = format!(
                "Added selection {}/{}.",
                p.get("os").unwrap_or("").trim(),
                p.get("release").unwrap_or("").trim()
            );
            forms::run(state, viewer, call, done, &format!("selection-create:{key}"), &p).await?
        }
        "selection-delete" => {
            let (src, sel) = selection_key(&p)?;
            let rel = format!("boot-sources/{src}/selections/{sel}/");
            if p.get("confirm").is_none() {
                let s = calls::json(state, viewer, Method::Get, &rel, None, vec![]).await?;
                let name = format!(
                    "{}/{}",
                    s.get("os").and_then(Value::as_str).unwrap_or(""),
                    s.get("release").and_then(Value::as_str).unwrap_or("")
                );
                let note = "The next clean import removes the synced images only this selection wanted.";
                let key = format!("{src}/{sel}");
                return Ok(confirm(
                    viewer,
                    &format!("selection {name}"),
                    "/MAAS/r/images/selection-delete",
                    &key,
                    note,
                ));
            }
            let call = (Method::Delete, rel, None, vec![]);
            forms::run(
                state,
                viewer,
                call,
                "Deleted the selection.".into(),
                &format!("selection-delete:{src}/{sel}"),
                &p,
            )
            .await?
        }
        _ => return Err(Error::NotFoundText(format!("There is no page at /MAAS/r/images/{what}."))),
    };
    page(state, viewer, Some(notice)).await
}
