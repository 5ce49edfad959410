//! Importing boot resources from simplestreams mirrors (MAAS's boot sources).
//!
//! A source URL is an HTTP(S) URL, a `file://` URL or an absolute path to a
//! mirror laid out as simplestreams: `streams/v1/index.json` names products
//! files (entries of `datatype` `image-downloads`); a products file holds
//! products (`os`, `release`, `arch`, `subarch`, `label`, …) with versions
//! whose items (`ftype`, `path`, `sha256`, `size`) are the files. For every
//! product a selection of the source matches (os, release, arches,
//! subarches, labels; `*` matches all), the newest version is imported.
//!
//! Each item is downloaded into the image store's `.partial` file — resumed
//! with an HTTP `Range` request (or a seek, for a local mirror) when one was
//! left by an interrupted import — checked against its size and SHA-256, and
//! renamed into place. Only when every file of a version is in the store is
//! the version recorded, in one transaction (resource, set, files, removal of
//! the older sets). A crash or a corrupt item therefore never makes a file or
//! a set visible half-way; a failure is recorded in the import's report and
//! as an admin notification, and the rest of the import goes on.
//!
//! Signatures, as MAAS and python-simplestreams check them: a boot source
//! has a keyring (`keyring_filename`, or `keyring_data` written to a private
//! scratch file) unless an administrator set `skip_keyring_verification`.
//! With a keyring the signed documents are read — `streams/v1/index.sjson`,
//! and each products path of the index with `.json` swapped for `.sjson`
//! (simplestreams' signed index names the `.json` siblings) — and each is
//! verified by `gpgv` ([`engine::gpg`]); only the text gpgv vouches for is
//! parsed, never the document around the signature. The index and every
//! products file of a source are read and verified before anything is
//! downloaded: a bad or missing signature, or a wrong keyring, fails the
//! whole source (a failure in the report and the admin notification) and
//! nothing is imported from it — nor is anything removed, since removal
//! follows only a clean import. The item SHA-256s then come from signed
//! text, so every byte imported is vouched for by the keyring. With
//! `skip_keyring_verification` the unsigned `index.json` and products `.json`
//! are read and integrity rests on the mirror URL alone.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::db;
use crate::db::boot_resources::{BootSource, NewFile, NewResource, Selection};
use crate::db::Datastore;
use crate::engine;
use crate::engine::boot_resources::{forget_content, SYNCED};
use crate::engine::image_store::{valid_sha256, ImageStore};
use crate::error::{Error, Result};

/// Item file types imported (others, such as manifests, are skipped).
pub const FTYPES: &[&str] =
    &["boot-kernel", "boot-initrd", "boot-dtb", "squashfs", "root-tgz", "root-tbz", "root-txz", "root-dd"];

/// What one import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// `name arch/subarch version` of each version newly imported.
    pub imported: Vec<String>,
    /// Versions that were already complete.
    pub unchanged: Vec<String>,
    /// Human-readable failures (a source unreachable, a bad checksum…).
    pub failures: Vec<String>,
    /// Synced resources removed because no selection wants them any more.
    pub removed: Vec<String>,
    /// The import was stopped (`stop_import`) before it finished.
    pub stopped: bool,
}

/// The region's importer: at most one import runs at a time per process.
#[derive(Default)]
pub struct Importer {
    running: AtomicBool,
    stop: AtomicBool,
    last: Mutex<Option<ImportReport>>,
}

/// Clears `running` however the import task ends (even by a panic).
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Importer {
    pub fn is_importing(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// The report of the last finished import.
    pub fn last_report(&self) -> Option<ImportReport> {
        self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Asks a running import to stop after the current piece of work.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Starts an import in the background; false if one is already running.
    pub fn start(self: &Arc<Self>, db: Datastore, store: ImageStore) -> bool {
        if self.running.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.stop.store(false, Ordering::SeqCst);
        let me = self.clone();
        tokio::spawn(async move {
            let _running = Running(&me.running);
            let report = import_all(&db, &store, &me.stop).await;
            *me.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(report);
        });
        true
    }

    /// Runs an import to completion in the caller's task (CLI, tests);
    /// `None` if one is already running.
    pub async fn run_now(&self, db: &Datastore, store: &ImageStore) -> Option<ImportReport> {
        if self.running.swap(true, Ordering::SeqCst) {
            return None;
        }
        self.stop.store(false, Ordering::SeqCst);
        let _running = Running(&self.running);
        let report = import_all(db, store, &self.stop).await;
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(report.clone());
        Some(report)
    }
}

/// Where a mirror lives.
#[derive(Debug, Clone)]
enum Mirror {
    Dir(PathBuf),
    /// Base URL ending in `/`.
    Http(String),
}

impl Mirror {
    fn parse(url: &str) -> Mirror {
        if let Some(p) = url.strip_prefix("file://") {
            Mirror::Dir(PathBuf::from(p))
        } else if url.starts_with('/') {
            Mirror::Dir(PathBuf::from(url))
        } else if url.ends_with('/') {
            Mirror::Http(url.to_string())
        } else {
            Mirror::Http(format!("{url}/"))
        }
    }

    /// A mirror-relative path, refusing anything that climbs out of it.
    fn check(rel: &str) -> std::result::Result<&str, String> {
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() || rel.split('/').any(|p| p == "..") {
            return Err(format!("refusing mirror path '{rel}'"));
        }
        Ok(rel)
    }

    /// The bytes of a (small) mirror document.
    async fn fetch(&self, client: &reqwest::Client, rel: &str) -> std::result::Result<Vec<u8>, String> {
        let rel = Self::check(rel)?;
        Ok(match self {
            Mirror::Dir(d) => {
                tokio::fs::read(d.join(rel)).await.map_err(|e| format!("{}: {e}", d.join(rel).display()))?
            }
            Mirror::Http(base) => {
                let url = format!("{base}{rel}");
                let r = client.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
                if !r.status().is_success() {
                    return Err(format!("{url}: HTTP {}", r.status()));
                }
                r.bytes().await.map_err(|e| format!("{url}: {e}"))?.to_vec()
            }
        })
    }

    /// A simplestreams document as JSON: with a keyring, the `.sjson`
    /// document verified by gpgv and only its signed content parsed;
    /// without one (`skip_keyring_verification`), the plain `.json`.
    async fn document(&self, client: &reqwest::Client, trust: &Trust, rel: &str) -> std::result::Result<Value, String> {
        let rel = trust.path(rel);
        let bytes = self.fetch(client, &rel).await?;
        let content = match trust {
            Trust::Keyring(k) => k.verify(&bytes, &rel).await?,
            Trust::Unsigned => bytes,
        };
        serde_json::from_slice(&content).map_err(|e| format!("{rel}: not valid JSON: {e}"))
    }

    /// Downloads an item into the store's partial file (resuming it) and
    /// publishes it after the size and SHA-256 check.
    async fn download(
        &self,
        client: &reqwest::Client,
        store: &ImageStore,
        item: &Item,
        stop: &AtomicBool,
    ) -> std::result::Result<(), String> {
        let rel = Self::check(&item.path)?;
        let _guard = store.lock(&item.sha256).await;
        if store.path(&item.sha256).is_some() {
            return Ok(());
        }
        let mut have = store.partial_len(&item.sha256);
        if have > item.size {
            have = 0; // a stale partial file of something else: start again
        }
        let too_big = || format!("{rel}: larger than the {} bytes the products file declares", item.size);
        let err = |e: Error| format!("{rel}: {e}");
        match self {
            Mirror::Dir(d) => {
                let mut src = tokio::fs::File::open(d.join(rel)).await.map_err(|e| format!("{rel}: {e}"))?;
                src.seek(std::io::SeekFrom::Start(have)).await.map_err(|e| format!("{rel}: {e}"))?;
                let mut out = store.open_partial(&item.sha256, have == 0).await.map_err(err)?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return Err("stopped".into());
                    }
                    let n = src.read(&mut buf).await.map_err(|e| format!("{rel}: {e}"))?;
                    if n == 0 {
                        break;
                    }
                    have += n as u64;
                    if have > item.size {
                        drop(out);
                        store.remove_partial(&item.sha256).await;
                        return Err(too_big());
                    }
                    out.write_all(&buf[..n]).await.map_err(|e| format!("{rel}: {e}"))?;
                }
                out.flush().await.map_err(|e| format!("{rel}: {e}"))?;
            }
            Mirror::Http(base) => {
                let url = format!("{base}{rel}");
                let mut req = client.get(&url);
                if have > 0 {
                    req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
                }
                let mut r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
                let status = r.status().as_u16();
                // 206: the rest follows; 200: the whole file again (no Range
                // support); 416: nothing left to send.
                let restart = match status {
                    206 => false,
                    200 => {
                        have = 0;
                        true
                    }
                    416 if have > 0 => false,
                    _ => return Err(format!("{url}: HTTP {status}")),
                };
                let mut out = store.open_partial(&item.sha256, restart).await.map_err(err)?;
                if status != 416 {
                    while let Some(chunk) = r.chunk().await.map_err(|e| format!("{url}: {e}"))? {
                        if stop.load(Ordering::SeqCst) {
                            return Err("stopped".into());
                        }
                        have += chunk.len() as u64;
                        if have > item.size {
                            drop(out);
                            store.remove_partial(&item.sha256).await;
                            return Err(too_big());
                        }
                        out.write_all(&chunk).await.map_err(|e| format!("{url}: {e}"))?;
                    }
                }
                out.flush().await.map_err(|e| format!("{url}: {e}"))?;
            }
        }
        store.finish(&item.sha256, item.size).await.map_err(err)
    }
}

/// How a source's documents are trusted.
enum Trust {
    /// Signed documents, verified against the source's keyring.
    Keyring(engine::gpg::Keyring),
    /// The administrator opted out (`skip_keyring_verification`).
    Unsigned,
}

impl Trust {
    /// The source's keyring, or why it has none usable.
    fn of(source: &BootSource, scratch_parent: &std::path::Path) -> std::result::Result<Trust, String> {
        if source.skip_keyring_verification {
            return Ok(Trust::Unsigned);
        }
        if source.keyring_filename.is_empty() && source.keyring_data.is_empty() {
            // A source made before keyrings were required.
            return Err("the boot source has no keyring to verify the mirror's signatures with: set \
                        keyring_filename or keyring_data, or skip_keyring_verification=true for an unsigned mirror"
                .into());
        }
        engine::gpg::Keyring::prepare(scratch_parent, &source.keyring_filename, &source.keyring_data)
            .map(Trust::Keyring)
    }

    /// The document to read for an index or products path: simplestreams'
    /// signing policy swaps `.json` for `.sjson` (a signed index names the
    /// unsigned siblings); without verification the path stays as it is.
    fn path(&self, rel: &str) -> String {
        match self {
            Trust::Keyring(_) => match rel.strip_suffix(".json") {
                Some(stem) => format!("{stem}.sjson"),
                None => rel.to_string(),
            },
            Trust::Unsigned => rel.to_string(),
        }
    }
}

/// The index and every image-downloads products file of a source, all read
/// (and verified) before anything is downloaded, so a bad signature on any
/// of them means nothing is imported from the source.
async fn read_products(
    mirror: &Mirror,
    client: &reqwest::Client,
    trust: &Trust,
) -> std::result::Result<Vec<Value>, String> {
    let index = mirror.document(client, trust, "streams/v1/index.json").await?;
    let entries: Vec<String> = index
        .get("index")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, e)| text(e, "datatype") == "image-downloads")
        .map(|(_, e)| text(e, "path"))
        .filter(|p| !p.is_empty())
        .collect();
    if entries.is_empty() {
        return Err("the index names no image-downloads products".into());
    }
    let mut docs = Vec::with_capacity(entries.len());
    for path in entries {
        docs.push(mirror.document(client, trust, &path).await?);
    }
    Ok(docs)
}

/// One file of a product version.
#[derive(Debug, Clone)]
struct Item {
    ftype: String,
    path: String,
    sha256: String,
    size: u64,
}

/// The newest version of one selected product.
#[derive(Debug, Clone)]
struct Wanted {
    name: String,
    architecture: String,
    title: String,
    subarches: String,
    kflavor: String,
    version: String,
    label: String,
    items: Vec<Item>,
}

impl Wanted {
    fn describe(&self) -> String {
        format!("{} {} {}", self.name, self.architecture, self.version)
    }
}

fn matches(list: &str, value: &str) -> bool {
    list.split(',').map(str::trim).any(|v| v == "*" || v == value)
}

fn selected(sels: &[Selection], os: &str, release: &str, arch: &str, subarch: &str, label: &str) -> bool {
    sels.iter().any(|s| {
        s.os == os
            && s.release == release
            && matches(&s.arches, arch)
            && (s.subarches.is_empty() || matches(&s.subarches, subarch))
            && (s.labels.is_empty() || matches(&s.labels, label))
    })
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The selected products of one products file, newest version each.
fn wanted_products(doc: &Value, sels: &[Selection], failures: &mut Vec<String>) -> Vec<Wanted> {
    let mut out = Vec::new();
    let Some(products) = doc.get("products").and_then(Value::as_object) else {
        failures.push("products file without a products object".into());
        return out;
    };
    // Simplestreams lets a product inherit fields from the document's top level.
    let field = |p: &Value, k: &str| {
        let v = text(p, k);
        if v.is_empty() {
            text(doc, k)
        } else {
            v
        }
    };
    for (pname, p) in products {
        let (os, release, arch, subarch) = (field(p, "os"), field(p, "release"), field(p, "arch"), field(p, "subarch"));
        let subarch = if subarch.is_empty() { "generic".to_string() } else { subarch };
        let label = field(p, "label");
        if os.is_empty() || release.is_empty() || arch.is_empty() {
            continue; // bootloaders and other non-OS products
        }
        if !selected(sels, &os, &release, &arch, &subarch, &label) {
            continue;
        }
        let versions: BTreeMap<&String, &Value> =
            p.get("versions").and_then(Value::as_object).map(|m| m.iter().collect()).unwrap_or_default();
        let Some((version, v)) = versions.into_iter().next_back() else {
            failures.push(format!("{pname}: no versions"));
            continue;
        };
        let mut items = Vec::new();
        let mut bad = None;
        for (iname, it) in v.get("items").and_then(Value::as_object).into_iter().flatten() {
            let ftype = text(it, "ftype");
            if !FTYPES.contains(&ftype.as_str()) {
                continue;
            }
            let sha256 = text(it, "sha256").to_ascii_lowercase();
            let size = it.get("size").and_then(Value::as_u64);
            let path = text(it, "path");
            match size {
                Some(size) if valid_sha256(&sha256) && !path.is_empty() => {
                    items.push(Item { ftype, path, sha256, size })
                }
                _ => bad = Some(format!("{pname} {version} {iname}: item without a valid path, sha256 or size")),
            }
        }
        if let Some(b) = bad {
            failures.push(b);
            continue;
        }
        if items.is_empty() {
            failures.push(format!("{pname} {version}: no boot files"));
            continue;
        }
        let label = if text(v, "label").is_empty() { label } else { text(v, "label") };
        let release_title = field(p, "release_title");
        let mut os_title = os.clone();
        if let Some(f) = os_title.get_mut(0..1) {
            f.make_ascii_uppercase();
        }
        out.push(Wanted {
            name: format!("{os}/{release}"),
            architecture: format!("{arch}/{subarch}"),
            title: if release_title.is_empty() {
                format!("{os}/{release}")
            } else {
                format!("{os_title} {release_title}")
            },
            subarches: field(p, "subarches"),
            kflavor: field(p, "kflavor"),
            version: version.clone(),
            label,
            items,
        });
    }
    out
}

/// Runs one import of every boot source. Never fails as a whole: problems
/// are collected in the report.
pub async fn import_all(db: &Datastore, store: &ImageStore, stop: &AtomicBool) -> ImportReport {
    let mut report = ImportReport::default();
    let loaded = db
        .run(|c| {
            let sources = db::boot_resources::sources(c)?;
            let sels = db::boot_resources::selections(c, None)?;
            Ok((sources, sels))
        })
        .await;
    let (sources, sels) = match loaded {
        Ok(x) => x,
        Err(e) => {
            report.failures.push(format!("cannot read the boot sources: {e}"));
            return finish(db, report).await;
        }
    };
    let client = match reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(30)).build() {
        Ok(c) => c,
        Err(e) => {
            report.failures.push(format!("cannot build an HTTP client: {e}"));
            return finish(db, report).await;
        }
    };
    // gpgv's scratch directories live in the data dir, beside the store.
    let scratch_parent = scratch_parent(store);
    // name + architecture of everything some selection still wants.
    let mut keep: HashSet<(String, String)> = HashSet::new();
    for source in &sources {
        let my_sels: Vec<Selection> = sels.iter().filter(|s| s.boot_source_id == source.id).cloned().collect();
        if my_sels.is_empty() {
            continue;
        }
        let mirror = Mirror::parse(&source.url);
        let docs = match Trust::of(source, &scratch_parent) {
            Ok(trust) => read_products(&mirror, &client, &trust).await,
            Err(e) => Err(e),
        };
        let docs = match docs {
            Ok(d) => d,
            Err(e) => {
                report.failures.push(format!("{}: {e}; nothing was imported from this source", source.url));
                continue;
            }
        };
        for doc in docs {
            for w in wanted_products(&doc, &my_sels, &mut report.failures) {
                if stop.load(Ordering::SeqCst) {
                    report.stopped = true;
                    return finish(db, report).await;
                }
                keep.insert((w.name.clone(), w.architecture.clone()));
                let mut failed = false;
                for item in &w.items {
                    if let Err(e) = mirror.download(&client, store, item, stop).await {
                        if stop.load(Ordering::SeqCst) {
                            report.stopped = true;
                            return finish(db, report).await;
                        }
                        report.failures.push(format!("{}: {}: {e}", w.describe(), item.ftype));
                        failed = true;
                        break;
                    }
                }
                if failed {
                    continue;
                }
                match record(db, store, &w).await {
                    Ok(true) => report.imported.push(w.describe()),
                    Ok(false) => report.unchanged.push(w.describe()),
                    Err(e) => report.failures.push(format!("{}: {e}", w.describe())),
                }
            }
        }
    }
    if report.failures.is_empty() && !report.stopped {
        // MAAS drops synced images no selection wants any more; only after a
        // clean import, so an unreachable mirror never empties the region.
        match remove_unwanted(db, store, &keep).await {
            Ok(removed) => report.removed = removed,
            Err(e) => report.failures.push(format!("cleaning up: {e}")),
        }
    }
    finish(db, report).await
}

/// Records a fully downloaded version: resource (created or refreshed), its
/// new set with complete files, and the removal of older sets, in one
/// transaction. False when that version was already there.
async fn record(db: &Datastore, store: &ImageStore, w: &Wanted) -> Result<bool> {
    let w2 = w.clone();
    let outcome = db
        .write(move |c| {
            let now = db::now();
            let id = match db::boot_resources::by_name_arch(c, &w2.name, &w2.architecture)? {
                Some(r) if r.rtype != SYNCED => {
                    return Err(Error::Conflict(format!(
                        "an uploaded resource named {} {} exists; not replacing it",
                        w2.name, w2.architecture
                    )))
                }
                Some(r) => {
                    let (sets, _) = db::boot_resources::sets_and_files(c, &[r.id])?;
                    if sets.iter().any(|s| s.version == w2.version) {
                        return Ok(None);
                    }
                    db::boot_resources::touch(c, r.id, &w2.title, &w2.subarches, &w2.kflavor, now)?;
                    r.id
                }
                None => db::boot_resources::insert(
                    c,
                    &NewResource {
                        rtype: SYNCED,
                        name: w2.name.clone(),
                        architecture: w2.architecture.clone(),
                        title: w2.title.clone(),
                        base_image: String::new(),
                        subarches: w2.subarches.clone(),
                        kflavor: w2.kflavor.clone(),
                        created_at: now,
                        updated_at: now,
                    },
                )?,
            };
            let set = db::boot_resources::insert_set(c, id, &w2.version, &w2.label, now)?;
            for it in &w2.items {
                let f = NewFile {
                    filename: it.ftype.clone(),
                    filetype: it.ftype.clone(),
                    sha256: it.sha256.clone(),
                    size: it.size as i64,
                    complete: true,
                };
                db::boot_resources::insert_file(c, set, &f)?;
            }
            Ok(Some(db::boot_resources::delete_sets_except(c, id, set)?))
        })
        .await?;
    match outcome {
        None => Ok(false),
        Some(old) => {
            forget_content(db, store, old).await?;
            Ok(true)
        }
    }
}

async fn remove_unwanted(db: &Datastore, store: &ImageStore, keep: &HashSet<(String, String)>) -> Result<Vec<String>> {
    let synced = db.run(|c| db::boot_resources::list(c, Some(SYNCED))).await?;
    let mut removed = Vec::new();
    for r in synced {
        if keep.contains(&(r.name.clone(), r.architecture.clone())) {
            continue;
        }
        let id = r.id;
        if let Some(shas) = db.write(move |c| db::boot_resources::delete(c, id)).await? {
            forget_content(db, store, shas).await?;
            removed.push(format!("{} {}", r.name, r.architecture));
        }
    }
    Ok(removed)
}

/// Logs the outcome and tells administrators about failures.
async fn finish(db: &Datastore, report: ImportReport) -> ImportReport {
    tracing::info!(
        imported = report.imported.len(),
        unchanged = report.unchanged.len(),
        failures = report.failures.len(),
        stopped = report.stopped,
        "boot resource import finished"
    );
    if !report.failures.is_empty() {
        for f in &report.failures {
            tracing::warn!(failure = %f, "boot resource import");
        }
        let message = format!("Failed to import boot resources: {}", report.failures.join("; "));
        let fields = db::files::NotificationFields {
            ident: None,
            message,
            context: "{}".into(),
            category: "error".into(),
            user_id: None,
            for_users: false,
            for_admins: true,
            dismissable: true,
            updated_at: db::now(),
        };
        let now = fields.updated_at;
        if let Err(e) = db.write(move |c| db::files::notification_insert(c, &fields, now).map(|_| ())).await {
            tracing::warn!(error = %e, "could not record the import failure notification");
        }
    }
    report
}

/// Where signature checks make their scratch directories: beside the store.
fn scratch_parent(store: &ImageStore) -> std::path::PathBuf {
    store.dir().parent().unwrap_or(store.dir()).to_path_buf()
}

/// Removes scratch directories an interrupted import left (at start).
pub fn sweep_scratch(store: &ImageStore) {
    engine::gpg::sweep(&scratch_parent(store));
}
