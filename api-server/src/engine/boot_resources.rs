//! Boot resources (images) and boot sources: validation, uploads (inline and
//! MAAS's chunked protocol), deletion, and what the rack controller serves.
//!
//! A resource is `name` (`ubuntu/jammy`, `custom/foo`) for one
//! `architecture` (`amd64/generic`), with sets (versions) of files. File
//! contents live in the [`ImageStore`], never in the database; a file row is
//! `complete` only once the store holds its checked content.
//!
//! For the rack link: [`file_path`] and [`complete_resources`].
//!
//! A boot source must carry exactly one keyring (`keyring_filename` or
//! `keyring_data`) unless `skip_keyring_verification` is set, as MAAS's
//! `BootSource.clean` requires; [`create_source`] and [`update_source`]
//! check it on the source as it will be stored (`engine::image_import`
//! verifies the mirror with that keyring).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::db;
use crate::db::boot_resources::{BootSource, NewFile, NewResource, Resource, ResourceFile, ResourceSet};
use crate::db::now;
use crate::db::{Datastore, DbConn};
use crate::engine;
use crate::engine::image_store::{Appender, ImageStore};
use crate::error::{Error, Result};
use crate::spool::SpooledFile;

/// MAAS's resource type codes.
pub const SYNCED: i32 = 0;
pub const GENERATED: i32 = 1;
pub const UPLOADED: i32 = 2;

/// The type as MAAS renders it (`Synced`, `Generated`, `Uploaded`).
pub fn type_name(rtype: i32) -> &'static str {
    match rtype {
        SYNCED => "Synced",
        GENERATED => "Generated",
        _ => "Uploaded",
    }
}

/// The list filter `type=`: `synced`, `generated`, `uploaded` or `all`.
pub fn parse_type_filter(s: Option<&str>) -> Result<Option<i32>> {
    Ok(match s.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("all") => None,
        Some("synced") => Some(SYNCED),
        Some("generated") => Some(GENERATED),
        Some("uploaded") => Some(UPLOADED),
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "Bad type '{other}': use one of synced, generated, uploaded or all."
            )))
        }
    })
}

/// Architectures MAAS knows (the part before `/`).
pub const ARCHES: &[&str] = &["amd64", "arm64", "armhf", "i386", "ppc64el", "s390x", "riscv64"];

/// Splits and checks `arch/subarch` (`amd64/generic`, `arm64/hwe-22.04`).
pub fn parse_architecture(s: &str) -> Result<(String, String)> {
    let bad = || {
        Error::field(
            "architecture",
            format!(
                "'{s}' is not a valid architecture: use arch/subarch with arch one of {} (e.g. amd64/generic).",
                ARCHES.join(", ")
            ),
        )
    };
    let (arch, sub) = s.split_once('/').ok_or_else(bad)?;
    let sub_ok = !sub.is_empty() && sub.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if !ARCHES.contains(&arch) || !sub_ok {
        return Err(bad());
    }
    Ok((arch.to_string(), sub.to_string()))
}

/// The upload `filetype`s MAAS accepts and the file type (and file name)
/// each becomes in the resource's set.
pub const UPLOAD_FILETYPES: &[(&str, &str)] = &[
    ("tgz", "root-tgz"),
    ("tbz", "root-tbz"),
    ("txz", "root-txz"),
    ("ddtgz", "root-dd"),
    ("ddtbz", "root-dd.tar.bz2"),
    ("ddtxz", "root-dd.tar.xz"),
    ("ddtar", "root-dd.tar"),
    ("ddbz2", "root-dd.bz2"),
    ("ddgz", "root-dd.gz"),
    ("ddxz", "root-dd.xz"),
    ("ddraw", "root-dd.raw"),
];

pub fn stored_filetype(upload: &str) -> Result<&'static str> {
    UPLOAD_FILETYPES.iter().find(|(u, _)| *u == upload).map(|(_, s)| *s).ok_or_else(|| {
        let names: Vec<&str> = UPLOAD_FILETYPES.iter().map(|(u, _)| *u).collect();
        Error::field("filetype", format!("'{upload}' is not a valid filetype: use one of {}.", names.join(", ")))
    })
}

/// A custom image's or an `os/series` name: letters, digits, `-._` and at
/// most one `/`, nothing that could read as a path.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.matches('/').count() <= 1
        && !name.starts_with('/')
        && !name.ends_with('/')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b))
        && !name.split('/').any(|p| p == "." || p == "..");
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "name",
            format!("'{name}' is not a valid name: use os/series or a custom name (letters, digits, '-', '.', '_')."),
        ))
    }
}

/// What `POST boot-resources/` asks for.
#[derive(Debug, Default)]
pub struct UploadInput {
    pub name: String,
    pub title: String,
    pub architecture: String,
    /// The upload filetype (`tgz`, `ddraw`, …); default `tgz`.
    pub filetype: String,
    pub base_image: String,
    pub sha256: Option<String>,
    pub size: Option<i64>,
    /// Inline content (spooled while it arrived, hashed); without it the
    /// file waits for chunked uploads.
    pub content: Option<SpooledFile>,
}

/// Creates an uploaded resource with one set holding one file. With inline
/// content the content is checked (against `sha256`/`size` when given) and
/// stored first, so the file is complete from the start; without it the
/// file is incomplete until chunks arrive at its upload URL.
pub async fn create(db: &Datastore, store: &ImageStore, mut input: UploadInput) -> Result<i64> {
    check_name(&input.name)?;
    let (arch, sub) = parse_architecture(&input.architecture)?;
    let filetype = stored_filetype(if input.filetype.is_empty() { "tgz" } else { &input.filetype })?;
    if !input.base_image.is_empty() {
        let ok = input.base_image.split_once('/').is_some_and(|(o, s)| !o.is_empty() && !s.is_empty());
        if !ok {
            return Err(Error::field("base_image", "Use os/series, e.g. ubuntu/jammy."));
        }
    }
    let sha = match &input.sha256 {
        Some(s) => {
            let s = s.trim().to_ascii_lowercase();
            if !engine::image_store::valid_sha256(&s) {
                return Err(Error::field("sha256", "Must be 64 hexadecimal digits."));
            }
            Some(s)
        }
        None => None,
    };
    if input.size.is_some_and(|s| s < 0) {
        return Err(Error::field("size", "Must be 0 or more."));
    }
    let (sha, size, complete) = match &input.content {
        Some(data) => {
            let got = data.sha256().to_string();
            if let Some(size) = input.size {
                if size as u64 != data.len() {
                    return Err(Error::BadRequest(format!(
                        "Size mismatch: the content is {} bytes, the size given is {size}.",
                        data.len()
                    )));
                }
            }
            if let Some(want) = &sha {
                if *want != got {
                    return Err(Error::BadRequest(format!(
                        "Saved content does not match given SHA256 value: expected {want}, got {got}."
                    )));
                }
            }
            (got, i64::try_from(data.len()).map_err(Error::internal)?, true)
        }
        None => match (sha, input.size) {
            (Some(s), Some(n)) => (s, n, false),
            (None, _) => return Err(Error::field("sha256", "Required when no content is uploaded.")),
            (_, None) => return Err(Error::field("size", "Required when no content is uploaded.")),
        },
    };
    // Refuse a duplicate before storing content (the insert re-checks it).
    let (n, a) = (input.name.clone(), format!("{arch}/{sub}"));
    if db.run(move |c| db::boot_resources::by_name_arch(c, &n, &a)).await?.is_some() {
        return Err(Error::Conflict(format!(
            "A boot resource named '{}' for architecture '{}' already exists; delete it first.",
            input.name, input.architecture
        )));
    }
    if let Some(data) = input.content.take() {
        store.adopt(data).await?;
    }
    let now = now();
    let title = if input.title.is_empty() { input.name.clone() } else { input.title.clone() };
    let new = NewResource {
        rtype: UPLOADED,
        name: input.name.clone(),
        architecture: format!("{arch}/{sub}"),
        title,
        base_image: input.base_image.clone(),
        subarches: sub.clone(),
        kflavor: String::new(),
        created_at: now,
        updated_at: now,
    };
    // Content already in the store (uploaded before under another name)
    // makes the file complete at once.
    let complete = complete || store.path(&sha).is_some();
    let file = NewFile { filename: filetype.into(), filetype: filetype.into(), sha256: sha, size, complete };
    db.write(move |c| {
        let id = db::boot_resources::insert(c, &new)?;
        let set = db::boot_resources::insert_set(c, id, &now.format("%Y%m%d%H%M%S").to_string(), "uploaded", now)?;
        db::boot_resources::insert_file(c, set, &file)?;
        Ok(id)
    })
    .await
}

/// A resource with its sets (oldest first) and files, and how much of each
/// incomplete file has arrived.
pub struct Detail {
    pub resource: Resource,
    pub sets: Vec<(ResourceSet, Vec<(ResourceFile, u64)>)>,
}

pub async fn list(db: &Datastore, rtype: Option<i32>) -> Result<Vec<Resource>> {
    db.run(move |c| db::boot_resources::list(c, rtype)).await
}

pub async fn detail(db: &Datastore, store: &ImageStore, id: i64) -> Result<Detail> {
    let (resource, sets, files) = db
        .run(move |c| {
            let r = db::boot_resources::get(c, id)?.ok_or(Error::NotFound("BootResource"))?;
            let (s, f) = db::boot_resources::sets_and_files(c, &[id])?;
            Ok((r, s, f))
        })
        .await?;
    let mut by_set: HashMap<i64, Vec<(ResourceFile, u64)>> = HashMap::new();
    for f in files {
        let received = if f.complete { f.size as u64 } else { store.partial_len(&f.sha256) };
        by_set.entry(f.set_id).or_default().push((f, received));
    }
    let sets = sets.into_iter().map(|s| (by_set.remove(&s.id).unwrap_or_default(), s)).map(|(f, s)| (s, f)).collect();
    Ok(Detail { resource, sets })
}

/// Deletes a resource and the stored content no other file names.
pub async fn delete(db: &Datastore, store: &ImageStore, id: i64) -> Result<()> {
    let shas = db.write(move |c| db::boot_resources::delete(c, id)).await?.ok_or(Error::NotFound("BootResource"))?;
    forget_content(db, store, shas).await
}

/// Removes content from the store once no file row names it.
pub async fn forget_content(db: &Datastore, store: &ImageStore, shas: Vec<String>) -> Result<()> {
    for sha in shas {
        let s = sha.clone();
        if !db.run(move |c| db::boot_resources::sha_in_use(c, &s)).await? {
            store.remove(&sha).await;
        }
    }
    Ok(())
}

/// One chunk of MAAS's chunked upload, being received.
pub struct Upload {
    appender: Appender,
    sha256: String,
}

/// Starts receiving a chunk for `boot-resources/{id}/upload/{file_id}/`.
pub async fn begin_upload(db: &Datastore, store: &ImageStore, resource_id: i64, file_id: i64) -> Result<Upload> {
    let (r, f) = db
        .run(move |c| {
            let r = db::boot_resources::get(c, resource_id)?.ok_or(Error::NotFound("BootResource"))?;
            let f = db::boot_resources::file_of(c, resource_id, file_id)?.ok_or(Error::NotFound("BootResourceFile"))?;
            Ok((r, f))
        })
        .await?;
    if r.rtype != UPLOADED {
        return Err(Error::BadRequest("Cannot upload to a resource that is not an uploaded resource.".into()));
    }
    if f.complete || store.path(&f.sha256).is_some() {
        // Content that arrived under another resource completes this file too.
        let sha = f.sha256.clone();
        db.write(move |c| db::boot_resources::mark_complete(c, &sha)).await?;
        return Err(Error::BadRequest("Cannot upload to a resource file that is already complete.".into()));
    }
    let appender = store.appender(&f.sha256, f.size as u64).await?;
    Ok(Upload { appender, sha256: f.sha256 })
}

impl Upload {
    pub async fn write(&mut self, piece: &[u8]) -> Result<()> {
        self.appender.write(piece).await
    }

    /// Ends the chunk; once the whole content is in and checked, the file
    /// (and any other naming the same content) is marked complete.
    pub async fn finish(self, db: &Datastore) -> Result<bool> {
        let complete = self.appender.finish().await?;
        if complete {
            let sha = self.sha256;
            db.write(move |c| db::boot_resources::mark_complete(c, &sha)).await?;
        }
        Ok(complete)
    }

    pub async fn abort(self) {
        self.appender.abort().await
    }
}

// ---------------------------------------------------------------- for the rack

/// Where complete, verified content with this SHA-256 lives, if the store of
/// the region whose data dir is `data_dir` has it. Never returns a partial
/// file; `None` for anything that is not a hex SHA-256.
pub fn file_path(data_dir: &Path, sha256: &str) -> Option<PathBuf> {
    ImageStore::new(data_dir).path(sha256)
}

/// A file the rack can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFile {
    pub filename: String,
    /// `boot-kernel`, `boot-initrd`, `squashfs`, `root-tgz`, `root-dd`, …
    pub filetype: String,
    pub sha256: String,
    pub size: u64,
}

/// A resource whose newest set is complete on disk: what can be booted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootImage {
    pub id: i64,
    /// `ubuntu/jammy`, `custom/foo`.
    pub name: String,
    /// `amd64` of `amd64/generic`.
    pub arch: String,
    /// `generic` of `amd64/generic`.
    pub subarch: String,
    /// `Synced`, `Uploaded` or `Generated`.
    pub rtype: &'static str,
    /// The set's version (`20240501`).
    pub version: String,
    pub files: Vec<BootFile>,
}

/// Every resource whose newest set has all files complete and present in the
/// store of `data_dir`, with those files (for the rack's boot servers; open
/// them with [`file_path`]). Three queries whatever the number of resources.
pub async fn complete_resources(db: &Datastore, data_dir: &Path) -> Result<Vec<BootImage>> {
    let dir = data_dir.to_path_buf();
    db.run(move |c| complete_in(c, &dir)).await
}

/// [`complete_resources`] inside a caller's connection or transaction.
pub fn complete_in(c: &mut DbConn, data_dir: &Path) -> Result<Vec<BootImage>> {
    let resources = db::boot_resources::list(c, None)?;
    let ids: Vec<i64> = resources.iter().map(|r| r.id).collect();
    let (sets, files) = db::boot_resources::sets_and_files(c, &ids)?;
    let store = ImageStore::new(data_dir);
    let mut newest: HashMap<i64, &ResourceSet> = HashMap::new();
    for s in &sets {
        newest.insert(s.resource_id, s); // sets come in id order: the last wins
    }
    let mut out = Vec::new();
    for r in resources {
        let Some(set) = newest.get(&r.id) else { continue };
        let fs: Vec<&ResourceFile> = files.iter().filter(|f| f.set_id == set.id).collect();
        if fs.is_empty() || !fs.iter().all(|f| f.complete && store.path(&f.sha256).is_some()) {
            continue;
        }
        let (arch, subarch) = r.architecture.split_once('/').unwrap_or((&r.architecture, ""));
        out.push(BootImage {
            id: r.id,
            name: r.name.clone(),
            arch: arch.to_string(),
            subarch: subarch.to_string(),
            rtype: type_name(r.rtype),
            version: set.version.clone(),
            files: fs
                .iter()
                .map(|f| BootFile {
                    filename: f.filename.clone(),
                    filetype: f.filetype.clone(),
                    sha256: f.sha256.clone(),
                    size: f.size as u64,
                })
                .collect(),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------- boot sources

/// Splits a comma/space list parameter (`arches=amd64,arm64` or repeated).
pub fn join_list(values: &[&str]) -> String {
    let mut out: Vec<&str> =
        values.iter().flat_map(|v| v.split([',', ' '])).map(str::trim).filter(|s| !s.is_empty()).collect();
    out.dedup();
    out.join(",")
}

/// Checks a boot source URL: `http(s)://…`, `file://…` or an absolute path.
pub fn check_source_url(url: &str) -> Result<String> {
    let url = url.trim();
    let ok =
        url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://") || url.starts_with('/');
    if !ok || url.len() > 1024 {
        return Err(Error::field(
            "url",
            format!("'{url}' is not a valid URL: use http(s)://, file:// or an absolute path."),
        ));
    }
    Ok(url.to_string())
}

/// What `POST`/`PUT boot-sources/` set; `None` leaves a field as it is (on
/// create: empty, or false).
#[derive(Debug, Default)]
pub struct SourceInput {
    pub url: Option<String>,
    pub keyring_filename: Option<String>,
    pub keyring_data: Option<Vec<u8>>,
    pub skip_keyring_verification: Option<bool>,
}

impl SourceInput {
    fn apply(self, s: &mut BootSource) -> Result<()> {
        if let Some(url) = self.url {
            s.url = check_source_url(&url)?;
        }
        if let Some(kf) = self.keyring_filename {
            s.keyring_filename = kf.trim().to_string();
        }
        if let Some(kd) = self.keyring_data {
            s.keyring_data = kd;
        }
        if let Some(skip) = self.skip_keyring_verification {
            s.skip_keyring_verification = skip;
        }
        Ok(())
    }
}

/// MAAS's rule (`BootSource.clean`, same words): one keyring, unless
/// verification is skipped; never both.
fn check_keyring_choice(s: &BootSource) -> Result<()> {
    let (kf, kd) = (!s.keyring_filename.is_empty(), !s.keyring_data.is_empty());
    if kf && kd {
        return Err(Error::field("__all__", "Only one of keyring_filename or keyring_data can be specified."));
    }
    if !kf && !kd && !s.skip_keyring_verification {
        return Err(Error::field("__all__", "One of keyring_data or keyring_filename must be specified."));
    }
    if kd && s.keyring_data.starts_with(engine::gpg::ARMOR_HEADER) {
        return Err(Error::field(
            "keyring_data",
            "The keyring is ASCII-armoured; gpgv reads binary keyrings only: send the output of \
             `gpg --export KEYID` (or `gpg --dearmor` of this file).",
        ));
    }
    Ok(())
}

/// A `keyring_filename` must name a binary keyring this region can read
/// (each region of a PostgreSQL cluster reads its own copy at import time).
async fn check_keyring_file(path: &str) -> Result<()> {
    let bad = |why: String| Err(Error::field("keyring_filename", why));
    if !Path::new(path).is_absolute() {
        return bad(format!(
            "'{path}' is not an absolute path: give the full path of a keyring file on the region, such as \
             /usr/share/keyrings/ubuntu-cloudimage-keyring.gpg."
        ));
    }
    // stat before open: opening a FIFO would wait for a writer forever.
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() => {}
        Ok(_) => return bad(format!("'{path}' is not a regular file; keyring_filename must name a keyring file.")),
        Err(e) => return bad(format!("Cannot read the keyring file '{path}': {e}.")),
    }
    let mut f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) => return bad(format!("Cannot read the keyring file '{path}': {e}.")),
    };
    let mut head = [0u8; 16];
    let n = tokio::io::AsyncReadExt::read(&mut f, &mut head).await.unwrap_or(0);
    if n == 0 {
        return bad(format!("The keyring file '{path}' is empty."));
    }
    if head[..n].starts_with(engine::gpg::ARMOR_HEADER) {
        return bad(format!(
            "The keyring file '{path}' is ASCII-armoured; gpgv reads binary keyrings only (convert it with \
             `gpg --dearmor`)."
        ));
    }
    Ok(())
}

/// Creates a boot source (MAAS's `POST boot-sources/`).
pub async fn create_source(db: &Datastore, input: SourceInput) -> Result<BootSource> {
    let now = now();
    let mut s = BootSource {
        id: 0,
        url: String::new(),
        keyring_filename: String::new(),
        keyring_data: Vec::new(),
        created_at: now,
        updated_at: now,
        skip_keyring_verification: false,
    };
    if input.url.is_none() {
        return Err(Error::field("url", "This field is required."));
    }
    input.apply(&mut s)?;
    check_keyring_choice(&s)?;
    if !s.keyring_filename.is_empty() {
        check_keyring_file(&s.keyring_filename).await?;
    }
    db.write(move |c| {
        let id = db::boot_resources::source_insert(c, &s, now)?;
        db::boot_resources::source(c, id)?.ok_or_else(|| Error::Internal("inserted boot source vanished".into()))
    })
    .await
}

/// Updates a boot source; the keyring rules hold for the result (clearing
/// `keyring_filename` and giving `keyring_data` in one request switches).
pub async fn update_source(db: &Datastore, id: i64, input: SourceInput) -> Result<BootSource> {
    if let Some(kf) = input.keyring_filename.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        check_keyring_file(kf).await?;
    }
    db.write(move |c| {
        let mut s = db::boot_resources::source(c, id)?.ok_or(Error::NotFound("BootSource"))?;
        input.apply(&mut s)?;
        check_keyring_choice(&s)?;
        s.updated_at = now();
        db::boot_resources::source_update(c, &s)?;
        Ok(s)
    })
    .await
}
