//! The image store: boot-resource file contents on disk, named by SHA-256,
//! under `<data_dir>/images/sha256/<hex>`. The database never holds them.
//!
//! A file becomes visible under its name only by `rename` from
//! `<hex>.partial` in the same directory, after its size and SHA-256 were
//! checked. So a reader (the rack's HTTP/TFTP boot server via
//! [`engine::boot_resources::file_path`]) sees either the whole,
//! verified content or nothing: an interrupted upload or download leaves at
//! most a `.partial` file, which later chunks or a resumed download continue
//! and which nothing serves.
//!
//! Writers of one hash are serialised by a per-hash async lock (chunked
//! uploads of the same file, or an import and an upload of the same content),
//! in this process. Two regions sharing a PostgreSQL database each have their
//! own data dir, so they never share a `.partial` file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::spool::SpooledFile;

/// The directory of complete files (and their `.partial` siblings).
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("images").join("sha256")
}

/// True for a lower-case hex SHA-256: the only names the store accepts, so a
/// name can never escape the store directory.
pub fn valid_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why a write to the store was refused; every case is the client's input.
fn mismatch(msg: String) -> Error {
    Error::BadRequest(msg)
}

/// Handle on the store of one region. Cheap to clone.
#[derive(Clone)]
pub struct ImageStore {
    dir: PathBuf,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl ImageStore {
    pub fn new(data_dir: &Path) -> ImageStore {
        ImageStore::at(store_dir(data_dir))
    }

    /// A store of the same kind in another directory (`files/` content,
    /// engine::files).
    pub fn at(dir: PathBuf) -> ImageStore {
        ImageStore { dir, locks: Default::default() }
    }

    /// The directory of the store's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of complete, verified content, if the store has it.
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        if !valid_sha256(sha256) {
            return None;
        }
        let p = self.dir.join(sha256);
        p.is_file().then_some(p)
    }

    fn partial(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.partial"))
    }

    /// Bytes received so far of content not yet complete (0 when none).
    pub fn partial_len(&self, sha256: &str) -> u64 {
        std::fs::metadata(self.partial(sha256)).map(|m| m.len()).unwrap_or(0)
    }

    /// Serialises writers of one hash. Hold the guard across a whole
    /// append-and-maybe-finish step.
    pub async fn lock(&self, sha256: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(sha256.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }

    async fn ensure_dir(&self) -> Result<()> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| Error::Internal(format!("cannot create image store {}: {e}", self.dir.display())))
    }

    /// Opens the partial file for appending, creating it. `restart` truncates
    /// it first (a download whose server ignored our Range request).
    pub async fn open_partial(&self, sha256: &str, restart: bool) -> Result<tokio::fs::File> {
        if !valid_sha256(sha256) {
            return Err(mismatch(format!("'{sha256}' is not a SHA-256 in hex.")));
        }
        self.ensure_dir().await?;
        let mut o = tokio::fs::OpenOptions::new();
        // Private like everything in the data dir (crate::data_dir); the rename keeps the mode.
        o.create(true).mode(0o600);
        if restart {
            o.write(true).truncate(true);
        } else {
            o.append(true);
        }
        o.open(self.partial(sha256)).await.map_err(Error::internal)
    }

    /// Starts appending one chunk of a chunked upload to the partial file
    /// of `sha256`, whose whole content is `size` bytes. The appender holds
    /// the hash's lock until it is finished or aborted.
    pub async fn appender(&self, sha256: &str, size: u64) -> Result<Appender> {
        let guard = self.lock(sha256).await;
        let start = self.partial_len(sha256);
        let file = self.open_partial(sha256, false).await?;
        Ok(Appender { store: self.clone(), sha256: sha256.to_string(), size, start, have: start, file, _guard: guard })
    }

    /// Verifies the partial file (size, then SHA-256) and renames it into
    /// place. On a mismatch the partial file is removed and a 400 explains why.
    pub async fn finish(&self, sha256: &str, size: u64) -> Result<()> {
        let partial = self.partial(sha256);
        let have = self.partial_len(sha256);
        if have != size {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(mismatch(format!("Size mismatch: received {have} bytes, expected {size}.")));
        }
        let got = hash_file(&partial).await?;
        if got != sha256 {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(mismatch(format!(
                "Saved content does not match given SHA256 value: expected {sha256}, got {got}."
            )));
        }
        // fsync before the rename so a crash cannot publish a name whose
        // content never reached the disk.
        let f = tokio::fs::File::open(&partial).await.map_err(Error::internal)?;
        f.sync_all().await.map_err(Error::internal)?;
        drop(f);
        tokio::fs::rename(&partial, self.dir.join(sha256)).await.map_err(Error::internal)?;
        Ok(())
    }

    /// Stores whole content received at once (an inline multipart upload).
    pub async fn put(&self, sha256: &str, data: &[u8]) -> Result<()> {
        let _guard = self.lock(sha256).await;
        self.put_locked(sha256, data).await
    }

    /// [`Self::put`] for a caller already holding the hash's lock.
    pub async fn put_locked(&self, sha256: &str, data: &[u8]) -> Result<()> {
        if self.path(sha256).is_some() {
            return Ok(());
        }
        let mut f = self.open_partial(sha256, true).await?;
        f.write_all(data).await.map_err(Error::internal)?;
        f.flush().await.map_err(Error::internal)?;
        drop(f);
        self.finish(sha256, data.len() as u64).await
    }

    /// Stores content that arrived in a spool file, by renaming it into
    /// place (no copy): the spool computed its SHA-256 while writing it, in
    /// this process, so it is not read again. Content the store already has
    /// is kept and the spool file removed.
    pub async fn adopt(&self, content: SpooledFile) -> Result<()> {
        let sha = content.sha256().to_string();
        let _guard = self.lock(&sha).await;
        self.adopt_locked(content).await
    }

    /// [`Self::adopt`] for a caller already holding the hash's lock.
    pub async fn adopt_locked(&self, content: SpooledFile) -> Result<()> {
        let sha = content.sha256().to_string();
        if !valid_sha256(&sha) {
            return Err(Error::Internal(format!("a spool file's hash is not a SHA-256: {sha}")));
        }
        if self.path(&sha).is_some() {
            return Ok(()); // dropping `content` removes the spool file
        }
        self.ensure_dir().await?;
        content.rename_to(&self.dir.join(&sha)).await
    }

    /// Removes a partial file. For callers already holding the hash's lock.
    pub async fn remove_partial(&self, sha256: &str) {
        if valid_sha256(sha256) {
            let _ = tokio::fs::remove_file(self.partial(sha256)).await;
        }
    }

    /// Removes content (complete and partial). Callers check first that no
    /// file row names it any more.
    pub async fn remove(&self, sha256: &str) {
        if !valid_sha256(sha256) {
            return;
        }
        let _guard = self.lock(sha256).await;
        self.remove_locked(sha256).await;
    }

    /// [`Self::remove`] for a caller already holding the hash's lock.
    pub async fn remove_locked(&self, sha256: &str) {
        if !valid_sha256(sha256) {
            return;
        }
        let _ = tokio::fs::remove_file(self.dir.join(sha256)).await;
        let _ = tokio::fs::remove_file(self.partial(sha256)).await;
    }

    /// The hashes of the complete content in the store.
    pub fn hashes(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| valid_sha256(n)).collect()
    }
}

/// SHA-256 of a file in hex, read in 1 MiB blocks (never whole in memory).
pub async fn hash_file(path: &Path) -> Result<String> {
    let mut f = tokio::fs::File::open(path).await.map_err(Error::internal)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await.map_err(Error::internal)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// SHA-256 of bytes in hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One chunk being appended (see [`ImageStore::appender`]).
pub struct Appender {
    store: ImageStore,
    sha256: String,
    size: u64,
    /// Length of the partial file before this chunk: an aborted chunk is cut
    /// back to it, so the client can simply send the chunk again.
    start: u64,
    have: u64,
    file: tokio::fs::File,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Appender {
    /// Bytes of the content received so far, this chunk included.
    pub fn received(&self) -> u64 {
        self.have
    }

    /// Appends a piece; refuses (writing nothing) a piece past the declared size.
    pub async fn write(&mut self, piece: &[u8]) -> Result<()> {
        let after = self.have + piece.len() as u64;
        if after > self.size {
            return Err(mismatch(format!(
                "Too much content: {after} bytes would exceed the declared size of {} bytes.",
                self.size
            )));
        }
        self.file.write_all(piece).await.map_err(Error::internal)?;
        self.have = after;
        Ok(())
    }

    /// Ends the chunk. Once all `size` bytes are in, the content is verified
    /// and published; returns whether it is now complete. A complete file
    /// whose SHA-256 does not match is discarded (400).
    pub async fn finish(mut self) -> Result<bool> {
        self.file.flush().await.map_err(Error::internal)?;
        if self.have < self.size {
            return Ok(false);
        }
        self.store.finish(&self.sha256, self.size).await?;
        Ok(true)
    }

    /// Drops this chunk's bytes (the request failed half-way).
    pub async fn abort(mut self) {
        let _ = self.file.flush().await;
        let _ = self.file.set_len(self.start).await;
    }
}
