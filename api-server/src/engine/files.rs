//! Per-user files (`files/`, Juju's provider storage): content on disk,
//! metadata in the database.
//!
//! Content lives in a store like the boot resources' ([`ImageStore`]), at
//! `<data_dir>/files/sha256/<hex>`, named by its SHA-256 and published by
//! rename after the hash check, so a reader sees whole content or none. A
//! `files` row holds the owner, name, key, hash and size and is written in
//! one short transaction; no transaction ever carries the content, so an
//! upload stalls no other writer. Identical content is stored once and
//! leaves the store when the last row naming it goes.
//!
//! Several regions on one PostgreSQL database each have their own data dir.
//! So that a file uploaded through one region can be read through another,
//! on PostgreSQL the content is also written to `file_chunks` (1 MiB rows,
//! one short transaction each) before its row commits; a region that lacks
//! the content on disk copies it from there into its store (hash checked)
//! on first read. SQLite serves one region and keeps no copy.
//!
//! Races between an upload and the removal of the same content are closed
//! by the per-hash lock of the store (one process) and, for the chunks, by a
//! per-hash advisory lock in both transactions (`db::files::lock_content`).
//!
//! Rows from before content moved out keep it in the row; [`move_legacy`]
//! (run when the region starts) moves it to the store one row at a time,
//! and a read of such a row before then moves that row first.

use std::path::Path;

use crate::db::files::FileMeta;
use crate::db::{self, Backend, Datastore};
use crate::engine::image_store::{self, ImageStore};
use crate::error::{Error, Result};
use crate::spool::SpooledFile;

/// Size of one `file_chunks` row.
pub const CHUNK: usize = 1 << 20;

/// The store of `files/` content under a region's data dir.
pub fn store(data_dir: &Path) -> ImageStore {
    ImageStore::at(data_dir.join("files").join("sha256"))
}

/// An open file's content, ready to stream: the row, the open file (still
/// readable if its content is removed meanwhile) and its length.
#[derive(Debug)]
pub struct Content {
    pub meta: FileMeta,
    pub file: std::fs::File,
    pub len: u64,
}

fn chunk_count(len: u64) -> i64 {
    len.div_ceil(CHUNK as u64) as i64
}

/// Stores `content` (a spool file, hashed while it arrived) as `filename`
/// of `owner_id`, replacing a file of that name. The spool file is renamed
/// into the store; on PostgreSQL the shared copy is read from there in
/// chunks, so the content is never whole in memory.
pub async fn put(
    db: &Datastore,
    store: &ImageStore,
    owner_id: i64,
    filename: String,
    key: String,
    content: SpooledFile,
) -> Result<()> {
    let sha = content.sha256().to_string();
    let len = content.len();
    let size = i64::try_from(len).map_err(Error::internal)?;
    let orphans = {
        let _guard = store.lock(&sha).await;
        store.adopt_locked(content).await?;
        let mut attempts = 0;
        loop {
            copy_to_db(db, store, &sha, len).await?;
            let (sha2, filename, key) = (sha.clone(), filename.clone(), key.clone());
            let pg = db.backend() == Backend::Postgres;
            let want = chunk_count(len);
            let done = db
                .write(move |c| {
                    if pg {
                        db::files::lock_content(c, &sha2)?;
                        // Another region removed the chunks since we wrote them.
                        if db::files::chunk_count(c, &sha2)? < want {
                            return Ok(None);
                        }
                    }
                    db::files::put(c, owner_id, &filename, &key, &sha2, size, db::now()).map(Some)
                })
                .await?;
            match done {
                Some(orphans) => break orphans,
                None if attempts < 3 => attempts += 1,
                None => return Err(Error::Conflict("The file's content was being removed; try again.".into())),
            }
        }
    };
    remove_unreferenced(db, store, orphans).await;
    Ok(())
}

/// On PostgreSQL, the shared copy of the store's content `sha` (`len`
/// bytes) for the other regions, read from the store one chunk at a time.
/// The caller holds the hash's lock, so the content stays in place.
async fn copy_to_db(db: &Datastore, store: &ImageStore, sha: &str, len: u64) -> Result<()> {
    use tokio::io::AsyncReadExt;
    if db.backend() != Backend::Postgres {
        return Ok(());
    }
    let have = {
        let sha = sha.to_string();
        db.run(move |c| db::files::chunk_count(c, &sha)).await?
    };
    let want = chunk_count(len);
    if have == want {
        return Ok(());
    }
    let path = store.path(sha).ok_or_else(|| Error::Internal(format!("stored content {sha} vanished")))?;
    let mut file = tokio::fs::File::open(&path).await.map_err(Error::internal)?;
    for seq in 0..want {
        let mut piece = Vec::with_capacity(CHUNK);
        (&mut file).take(CHUNK as u64).read_to_end(&mut piece).await.map_err(Error::internal)?;
        let (sha, seq) = (sha.to_string(), i32::try_from(seq).map_err(Error::internal)?);
        // One short transaction per chunk: no writer waits for the whole upload.
        db.write(move |c| db::files::put_chunk(c, &sha, seq, &piece)).await?;
    }
    Ok(())
}

/// Removes content no row names any more (from the store and, on
/// PostgreSQL, the shared copy). Each hash is checked again under its locks,
/// so an upload of the same content that committed meanwhile keeps it.
pub async fn remove_unreferenced(db: &Datastore, store: &ImageStore, hashes: Vec<String>) {
    for sha in hashes {
        let _guard = store.lock(&sha).await;
        let pg = db.backend() == Backend::Postgres;
        let sha2 = sha.clone();
        let unreferenced = db
            .write(move |c| {
                if pg {
                    db::files::lock_content(c, &sha2)?;
                    db::files::delete_chunks_if_unreferenced(c, &sha2)?;
                }
                Ok(!db::files::referenced(c, &sha2)?)
            })
            .await;
        match unreferenced {
            Ok(true) => store.remove_locked(&sha).await,
            Ok(false) => {}
            // Left for the next start's sweep (collect_garbage).
            Err(e) => tracing::warn!(%sha, error = %e, "could not remove unreferenced file content"),
        }
    }
}

/// Deletes a file; false when there was none.
pub async fn delete(db: &Datastore, store: &ImageStore, owner_id: i64, filename: String) -> Result<bool> {
    match db.write(move |c| db::files::delete(c, owner_id, &filename)).await? {
        None => Ok(false),
        Some(orphans) => {
            remove_unreferenced(db, store, orphans).await;
            Ok(true)
        }
    }
}

/// Opens a file's content for reading, from the store; a region that lacks
/// it copies it from the shared copy first (PostgreSQL), and a row from
/// before content moved out is moved now.
pub async fn open(db: &Datastore, store: &ImageStore, meta: FileMeta) -> Result<Content> {
    let (meta, sha) = match meta.sha256.clone() {
        Some(sha) => (meta, sha),
        None => {
            move_one(db, store, meta.id).await?;
            let id = meta.id;
            let meta = db
                .run(move |c| db::files::by_key(c, &meta.anon_key))
                .await?
                .filter(|m| m.id == id)
                .ok_or(Error::NotFound("FileStorage"))?;
            let sha = meta.sha256.clone().ok_or(Error::NotFound("FileStorage"))?;
            (meta, sha)
        }
    };
    let path = match store.path(&sha) {
        Some(p) => p,
        None => fetch_from_db(db, store, &sha, meta.size).await?,
    };
    let file = std::fs::File::open(&path).map_err(Error::internal)?;
    let len = file.metadata().map_err(Error::internal)?.len();
    Ok(Content { meta, file, len })
}

/// Copies content from the shared copy into this region's store.
async fn fetch_from_db(db: &Datastore, store: &ImageStore, sha: &str, size: i64) -> Result<std::path::PathBuf> {
    let missing = || Error::Internal(format!("the content of a stored file ({sha}) is missing from this region"));
    if db.backend() != Backend::Postgres {
        return Err(missing());
    }
    let _guard = store.lock(sha).await;
    if let Some(p) = store.path(sha) {
        return Ok(p);
    }
    use tokio::io::AsyncWriteExt;
    let mut out = store.open_partial(sha, true).await?;
    let n = chunk_count(u64::try_from(size).map_err(Error::internal)?);
    for seq in 0..n {
        let (sha2, seq) = (sha.to_string(), i32::try_from(seq).map_err(Error::internal)?);
        let piece = db.run(move |c| db::files::chunk(c, &sha2, seq)).await?;
        let Some(piece) = piece else {
            store.remove_partial(sha).await;
            return Err(missing());
        };
        out.write_all(&piece).await.map_err(Error::internal)?;
    }
    out.flush().await.map_err(Error::internal)?;
    drop(out);
    store.finish(sha, size as u64).await?;
    store.path(sha).ok_or_else(missing)
}

/// Moves one row's in-database content to the store.
async fn move_one(db: &Datastore, store: &ImageStore, id: i64) -> Result<()> {
    let Some(data) = db.run(move |c| db::files::legacy_content(c, id)).await? else { return Ok(()) };
    let (data, sha) = tokio::task::spawn_blocking(move || {
        let sha = image_store::sha256_hex(&data);
        (data, sha)
    })
    .await
    .map_err(Error::internal)?;
    let _guard = store.lock(&sha).await;
    store.put_locked(&sha, &data).await?;
    copy_to_db(db, store, &sha, data.len() as u64).await?;
    let size = data.len() as i64;
    let sha2 = sha.clone();
    db.write(move |c| {
        db::files::lock_content(c, &sha2)?;
        db::files::legacy_moved(c, id, &sha2, size)
    })
    .await?;
    Ok(())
}

/// Moves every row's in-database content to the store (rows from before
/// migration 13), one row at a time; returns how many it moved.
pub async fn move_legacy(db: &Datastore, store: &ImageStore) -> Result<usize> {
    let ids = db.run(db::files::legacy_ids).await?;
    for id in &ids {
        move_one(db, store, *id).await?;
    }
    Ok(ids.len())
}

/// Removes content in the store that no row names (rows deleted with their
/// owner, or a removal interrupted by a crash).
pub async fn collect_garbage(db: &Datastore, store: &ImageStore) -> Result<()> {
    let named = db.run(db::files::all_hashes).await?;
    let unnamed: Vec<String> = store.hashes().into_iter().filter(|h| !named.contains(h)).collect();
    remove_unreferenced(db, store, unnamed).await;
    Ok(())
}

/// What the region runs once at start: legacy content out of the
/// database, then the store swept.
pub async fn start(db: Datastore, store: ImageStore) {
    match move_legacy(&db, &store).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(moved = n, "moved files/ content from the database to the data dir"),
        Err(e) => tracing::warn!(error = %e, "could not move files/ content out of the database"),
    }
    if let Err(e) = collect_garbage(&db, &store).await {
        tracing::warn!(error = %e, "could not sweep the files/ store");
    }
}
