//! Spool files: uploaded content on its way from a request to a store.
//!
//! The HTTP layer writes the file parts of actions that stream their
//! uploads (`files/`, inline `boot-resources/` content) here while the body
//! is parsed, hashing as it writes, so that no upload is ever whole in
//! memory; the engine then renames the file into its content store
//! (`ImageStore::adopt`), which costs no second copy.
//!
//! Spool files live in `<data_dir>/spool/` (0700, files 0600), on the same
//! file system as the stores so that the rename is atomic. A spool file
//! belongs to the value that names it ([`SpoolWriter`], then
//! [`SpooledFile`]): dropping that value removes the file, so a request
//! that fails, a connection that breaks mid-upload, or a handler that does
//! not take the file leaves nothing behind. What a crash leaves is removed
//! when the region starts ([`Spool::sweep`]).

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// The spool directory of one region. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn new(data_dir: &Path) -> Spool {
        Spool { dir: data_dir.join("spool") }
    }

    /// The directory (tests look for leftovers in it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes every spool file: at start, nothing is being uploaded.
    pub fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for e in entries.flatten() {
            if let Err(err) = std::fs::remove_file(e.path()) {
                tracing::warn!(path = %e.path().display(), error = %err, "cannot remove a spool file");
            }
        }
    }

    /// A new, empty spool file (0600) under a random name.
    pub fn create(&self) -> Result<SpoolWriter> {
        use rand::RngCore;
        if !self.dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| Error::Internal(format!("cannot create spool dir {}: {e}", self.dir.display())))?;
        }
        let mut name = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut name);
        let path = self.dir.join(format!("upload-{}", hex(&name)));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::Internal(format!("cannot create spool file {}: {e}", path.display())))?;
        Ok(SpoolWriter {
            file: tokio::fs::File::from_std(file),
            guard: Removal(Some(path)),
            hasher: Sha256::new(),
            len: 0,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes its file when dropped, unless the file was handed on.
#[derive(Debug)]
struct Removal(Option<PathBuf>);

impl Drop for Removal {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            // A quick unlink; the file may already be gone.
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A spool file being written.
#[derive(Debug)]
pub struct SpoolWriter {
    file: tokio::fs::File,
    guard: Removal,
    hasher: Sha256,
    len: u64,
}

impl SpoolWriter {
    /// Appends bytes (hashed on the way).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        self.file.write_all(bytes).await.map_err(|e| Error::Internal(format!("cannot write a spool file: {e}")))
    }

    /// The content is complete: its length and SHA-256 are known.
    pub async fn finish(mut self) -> Result<SpooledFile> {
        self.file.flush().await.map_err(|e| Error::Internal(format!("cannot write a spool file: {e}")))?;
        let sha256 = hex(&self.hasher.finalize());
        Ok(SpooledFile { guard: self.guard, len: self.len, sha256 })
    }
}

/// Complete content in a spool file, with its length and SHA-256 (computed
/// while it was written). Removed when dropped unless [`Self::rename_to`]
/// moved it.
#[derive(Debug)]
pub struct SpooledFile {
    guard: Removal,
    len: u64,
    sha256: String,
}

impl SpooledFile {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lower-case hex SHA-256 of the content.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    fn path(&self) -> Result<&Path> {
        self.guard.0.as_deref().ok_or_else(|| Error::Internal("a spool file was already moved".into()))
    }

    /// Moves the file to `dest` (same file system: a rename) after an
    /// fsync, so a crash cannot publish a name whose content never reached
    /// the disk. On failure the spool file is still removed on drop.
    pub async fn rename_to(mut self, dest: &Path) -> Result<()> {
        let path = self.path()?.to_path_buf();
        let f = tokio::fs::File::open(&path).await.map_err(Error::internal)?;
        f.sync_all().await.map_err(Error::internal)?;
        drop(f);
        tokio::fs::rename(&path, dest)
            .await
            .map_err(|e| Error::Internal(format!("cannot move {} to {}: {e}", path.display(), dest.display())))?;
        self.guard.0 = None;
        Ok(())
    }

    /// The whole content in memory, for an action that does not stream its
    /// uploads (bounded by that action's body limit, checked before).
    pub async fn read(&self) -> Result<Vec<u8>> {
        tokio::fs::read(self.path()?).await.map_err(Error::internal)
    }
}
