//! Backing up and restoring a SQLite datastore (`ironpool backup` /
//! `ironpool restore`). PostgreSQL has `pg_dump`/`pg_restore` for this
//! (docs/operations.md); these refuse a PostgreSQL URL and say so.
//!
//! The backup is `VACUUM INTO`: SQLite copies the database inside one read
//! transaction, so the copy is consistent while a region keeps writing (WAL
//! readers do not block writers), and it comes out compacted with no WAL
//! beside it. The secrets key is not in the database: a backup without a
//! copy of the key cannot open BMC passwords or API token secrets.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use crate::db::{sqlite_path, Backend};
use crate::error::{Error, Result};

/// Whether `url` names a SQLite datastore these commands can handle.
fn sqlite_only(url: &str, what: &str) -> Result<String> {
    match Backend::of_url(url) {
        Backend::Sqlite => Ok(sqlite_path(url).to_string()),
        Backend::Postgres => Err(Error::BadRequest(format!(
            "{what} handles SQLite only; for PostgreSQL use pg_dump / pg_restore (docs/operations.md)"
        ))),
    }
}

/// Copies the live database at `url` into a new file `dest` (which must
/// not exist), consistently even while a region writes to it.
pub fn sqlite_backup(url: &str, dest: &Path) -> Result<()> {
    let src = sqlite_only(url, "backup")?;
    if !Path::new(&src).exists() {
        return Err(Error::NotFoundText(format!("no database at {src}")));
    }
    if dest.exists() {
        return Err(Error::Conflict(format!("{} exists; give a new file name", dest.display())));
    }
    let dest = dest.to_str().ok_or_else(|| Error::BadRequest("the backup path must be valid UTF-8".into()))?;
    let mut conn = SqliteConnection::establish(&src)
        .map_err(|e| Error::Internal(format!("cannot open the database {src}: {e}")))?;
    // A writer holding the lock makes VACUUM INTO wait instead of failing.
    conn.batch_execute("PRAGMA busy_timeout = 10000;")
        .map_err(|e| Error::Internal(format!("cannot set the busy timeout: {e}")))?;
    // VACUUM INTO takes no bound parameter on every SQLite version: the
    // path goes in as a quoted literal.
    let sql = format!("VACUUM INTO '{}'", dest.replace('\'', "''"));
    diesel::sql_query(sql).execute(&mut conn).map_err(|e| Error::Internal(format!("backup failed: {e}")))?;
    Ok(())
}

/// Puts the backup `src` in place as the database at `url`. The region
/// must be stopped; an existing database is only replaced with `force`.
/// The file is checked (SQLite, intact, an ironpool schema) before
/// anything is replaced, and moved into place with a rename so a crash
/// leaves the old database or the new one, never half of one.
pub fn sqlite_restore(src: &Path, url: &str, force: bool) -> Result<()> {
    let target = sqlite_only(url, "restore")?;
    let target = Path::new(&target);
    if target.exists() && !force {
        return Err(Error::Conflict(format!(
            "{} exists; stop the region and pass --force to replace it",
            target.display()
        )));
    }
    let src_str = src.to_str().ok_or_else(|| Error::BadRequest("the backup path must be valid UTF-8".into()))?;
    check_backup(src_str)?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Internal(format!("cannot create {}: {e}", dir.display())))?;
    }
    let tmp = target.with_extension("db.restoring");
    std::fs::copy(src, &tmp).map_err(|e| Error::Internal(format!("cannot copy {}: {e}", src.display())))?;
    // The old database's WAL and shared-memory files belong to it; left
    // beside the new file SQLite would replay them into it.
    for ext in ["-wal", "-shm"] {
        let side = format!("{}{ext}", target.display());
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Internal(format!("cannot remove {side}: {e}"))),
        }
    }
    std::fs::rename(&tmp, target).map_err(|e| Error::Internal(format!("cannot move the restored database: {e}")))?;
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Refuses a file that is not an intact ironpool SQLite database.
fn check_backup(path: &str) -> Result<()> {
    if !Path::new(path).is_file() {
        return Err(Error::NotFoundText(format!("no backup file at {path}")));
    }
    let not_ours = |why: String| Error::BadRequest(format!("{path} is not an ironpool SQLite backup: {why}"));
    let mut conn = SqliteConnection::establish(&format!("file:{path}?mode=ro")).map_err(|e| not_ours(e.to_string()))?;
    let lines: Vec<Line> =
        diesel::sql_query("PRAGMA integrity_check").load(&mut conn).map_err(|e| not_ours(e.to_string()))?;
    if lines.iter().any(|l| l.integrity_check != "ok") {
        return Err(not_ours("the integrity check failed".into()));
    }
    let tables: Count = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
         AND name IN ('__diesel_schema_migrations', 'nodes', 'users')",
    )
    .get_result(&mut conn)
    .map_err(|e| not_ours(e.to_string()))?;
    if tables.n != 3 {
        return Err(not_ours("it has no ironpool tables".into()));
    }
    Ok(())
}
