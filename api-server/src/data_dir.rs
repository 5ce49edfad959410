//! Keeps the region's data directory private to the service user.
//!
//! The SQLite database holds API token secrets, node tokens, the rack secret
//! and the BMC key; the data directory also holds `secret`, the BMC key file
//! and boot images. The directory is made 0700 and every file in it 0600,
//! whatever the umask: at creation, and again at each start for files an
//! older version (or a careless copy) left readable, logging each change.
//! SQLite creates its `-wal` and `-shm` files with the database file's mode,
//! so creating the database 0600 before SQLite opens it covers them too.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates (0700) or tightens the data directory and everything in it, and
/// creates the SQLite database file 0600 when `database_url` names one that
/// does not exist yet (wherever it lives).
pub fn secure(data_dir: &Path, database_url: &str) -> Result<()> {
    if !data_dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|e| Error::Internal(format!("cannot create data dir {}: {e}", data_dir.display())))?;
    }
    tighten_tree(data_dir)?;
    if let Some(db) = sqlite_file(database_url) {
        let db = Path::new(db);
        if !db.exists() {
            if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| Error::Internal(format!("cannot create {}: {e}", parent.display())))?;
            }
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(db)
                .map_err(|e| Error::Internal(format!("cannot create database {}: {e}", db.display())))?;
        }
        // The database may live outside the data directory: its files still hold secrets.
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let p = format!("{}{suffix}", db.display());
            tighten(Path::new(&p), 0o600)?;
        }
    }
    Ok(())
}

/// The file path of a SQLite URL (`sqlite://path` or a bare path); `None`
/// for PostgreSQL and in-memory databases.
fn sqlite_file(url: &str) -> Option<&str> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    (!path.is_empty() && path != ":memory:" && !path.starts_with("file:")).then_some(path)
}

fn tighten_tree(dir: &Path) -> Result<()> {
    tighten(dir, 0o700)?;
    let entries = fs::read_dir(dir).map_err(|e| Error::Internal(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(Error::internal)?;
        // Not following symlinks: a link's target may be shared on purpose
        // (an image mirror), and its mode is not ours to change.
        let kind = entry.file_type().map_err(Error::internal)?;
        if kind.is_dir() {
            tighten_tree(&entry.path())?;
        } else if kind.is_file() {
            tighten(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

/// Removes group and other permissions from `path` (absent paths are fine);
/// `max` is what is left at most (0700 for directories, 0600 for files).
fn tighten(path: &Path, max: u32) -> Result<()> {
    let Ok(meta) = fs::symlink_metadata(path) else { return Ok(()) };
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = mode & max;
    if wanted != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(wanted))
            .map_err(|e| Error::Internal(format!("cannot restrict {}: {e}", path.display())))?;
        tracing::warn!(
            path = %path.display(),
            from = format!("{mode:o}"),
            to = format!("{wanted:o}"),
            "restricted permissions: this file or directory may hold secrets"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_and_tightens_existing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let url = format!("sqlite://{}", dir.join("ironpool.db").display());
        secure(&dir, &url).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("ironpool.db")), 0o600);

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(dir.join("images")).unwrap();
        fs::write(dir.join("images/abc"), b"x").unwrap();
        fs::set_permissions(dir.join("images/abc"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir.join("images"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join("ironpool.db-wal"), b"").unwrap();
        fs::set_permissions(dir.join("ironpool.db-wal"), fs::Permissions::from_mode(0o644)).unwrap();
        secure(&dir, &url).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("images")), 0o700);
        assert_eq!(mode(&dir.join("images/abc")), 0o600);
        assert_eq!(mode(&dir.join("ironpool.db-wal")), 0o600);
    }

    #[test]
    fn postgres_urls_name_no_file() {
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
        assert_eq!(sqlite_file("sqlite:///x/y.db"), Some("/x/y.db"));
        assert_eq!(sqlite_file("/x/y.db"), Some("/x/y.db"));
    }
}
