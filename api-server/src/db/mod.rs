//! The datastore: backend selection, the connection pool, migrations, and the
//! queries of each aggregate (one submodule per aggregate).
//!
//! SQLite is the embedded default; PostgreSQL lets several regions share one
//! database. Both sit behind diesel's `MultiConnection`, so every query is written
//! once. Diesel is synchronous: [`Datastore::run`] moves the work onto tokio's
//! blocking pool so no async executor thread ever waits on the database.
//! Database errors become [`error::Error`] here and nowhere else.

pub mod at_rest;
pub mod backup;
pub mod boot_resources;
pub mod config;
pub mod dhcp_snippets;
pub mod discoveries;
pub mod dns;
pub mod events;
pub mod files;
pub mod interfaces;
pub mod jobs;
pub mod license_keys;
pub mod metadata;
pub mod network;
pub mod node_details;
pub mod node_devices;
pub mod nodes;
pub mod oauth_nonces;
pub mod package_repositories;
pub mod places;
pub mod racks;
pub mod regions;
pub mod related;
pub mod reserved_ips;
pub mod results;
pub mod schema;
pub mod scripts;
pub mod secrets;
pub mod special_filesystems;
pub mod sshkeys;
pub mod storage;
pub mod tags;
pub mod tokens;
pub mod types;
pub mod ui_sessions;
pub mod users;
pub mod vm_hosts;
pub mod wake;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::Error;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to either backend. Queries are written against this type.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` select PostgreSQL; `sqlite://path`,
    /// `file:path` or a bare path select SQLite.
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Strips the `sqlite://` scheme diesel's SQLite driver does not understand.
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

/// How the pool connects and how long it waits: what the region's
/// configuration sets (`db_pool_size`, `db_busy_timeout_ms`,
/// `db_connect_timeout_secs`).
#[derive(Debug, Clone, Copy)]
pub struct DbOptions {
    /// Maximum connections in the pool.
    pub pool_size: u32,
    /// How long a SQLite writer waits for the write lock before the call
    /// is answered 503 "database is busy" (with `Retry-After`).
    pub busy_timeout: Duration,
    /// How long a call waits for a pooled connection (PostgreSQL down: the
    /// connection attempts fail until then) before a 503 "database
    /// unavailable"; also libpq's `connect_timeout` for each attempt.
    pub connect_timeout: Duration,
}

impl DbOptions {
    /// The defaults of `RegionConfig`, with this pool size.
    pub fn with_pool_size(pool_size: u32) -> DbOptions {
        DbOptions { pool_size, busy_timeout: Duration::from_secs(5), connect_timeout: Duration::from_secs(5) }
    }
}

/// Seconds of `Retry-After` for a busy or unreachable database: long
/// enough not to hammer it, short enough for a lock to clear.
const RETRY_AFTER_SECS: u64 = 2;

/// A PostgreSQL URL with libpq's `connect_timeout` unless the operator
/// set one: an unreachable host (dropped SYNs) would otherwise block a
/// connection attempt for the kernel's TCP timeout, minutes. Half the
/// pool's wait (whole seconds, at least libpq's minimum of 2), so an
/// attempt has failed, and said why, before a caller gives up waiting.
fn pg_url_with_connect_timeout(url: &str, pool_wait: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={}", (pool_wait.as_secs() / 2).max(2))
}

/// Connects the way the pool does, for one-off use (migrations, CLI commands).
/// Startup may meet another region migrating: it waits longer for the lock.
fn connect(url: &str) -> Result<DbConn, Error> {
    let conn = match Backend::of_url(url) {
        Backend::Postgres => DbConn::Pg(PgConnection::establish(url).map_err(connect_error)?),
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(sqlite_path(url)).map_err(connect_error)?;
            configure_sqlite(&mut c, Duration::from_secs(30)).map_err(from_diesel)?;
            DbConn::Sqlite(c)
        }
    };
    Ok(conn)
}

fn connect_error(e: diesel::ConnectionError) -> Error {
    Error::Internal(format!("cannot connect to the database: {e}"))
}

/// Per-connection SQLite settings: foreign keys are off by default in SQLite and
/// must be switched on for every connection; WAL lets readers run beside the one
/// writer; the busy timeout makes writers queue instead of failing at once,
/// for a while: past it the call is a 503 with `Retry-After` (see
/// [`from_diesel`]), not a request hanging on a lock somebody holds.
fn configure_sqlite(c: &mut SqliteConnection, busy_timeout: Duration) -> diesel::QueryResult<()> {
    c.batch_execute(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
        busy_timeout.as_millis()
    ))
}

#[derive(Debug)]
struct Customizer {
    busy_timeout: Duration,
}

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for Customizer {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            configure_sqlite(c, self.busy_timeout).map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Translates a diesel error at the datastore boundary. Callers that expect a
/// particular failure (a unique violation meaning "already exists") match on
/// the diesel error themselves before falling back to this.
///
/// A busy SQLite database (the write lock held past the busy timeout) and
/// a lost PostgreSQL connection are the database's trouble, not a bug:
/// 503 with `Retry-After` and a message saying which, never a 500.
pub fn from_diesel(e: DieselError) -> Error {
    match e {
        DieselError::NotFound => Error::Internal("row unexpectedly missing".into()),
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
            Error::Conflict(format!("Concurrent update, please retry: {}", info.message()))
        }
        DieselError::DatabaseError(kind, info) if is_busy(info.message()) => {
            tracing::warn!(?kind, error = info.message(), "database busy");
            Error::RetryLater {
                message: "The database is busy (another writer holds it); nothing was changed, retry shortly.".into(),
                retry_after_secs: RETRY_AFTER_SECS,
            }
        }
        DieselError::DatabaseError(kind, info)
            if kind == DatabaseErrorKind::ClosedConnection || is_connection_lost(info.message()) =>
        {
            tracing::warn!(?kind, error = info.message(), "database connection lost");
            unavailable(info.message())
        }
        other => Error::Internal(format!("database error: {other}")),
    }
}

/// SQLite's SQLITE_BUSY / SQLITE_LOCKED texts.
fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}

/// libpq's texts for a server that went away under an open connection.
fn is_connection_lost(message: &str) -> bool {
    ["server closed the connection", "terminating connection", "no connection to the server", "connection refused"]
        .iter()
        .any(|m| message.contains(m))
}

fn unavailable(detail: &str) -> Error {
    Error::RetryLater {
        message: format!("The database is unavailable ({}); retry shortly.", detail.trim()),
        retry_after_secs: RETRY_AFTER_SECS,
    }
}

/// The pool gave no connection in time: the database is unreachable (r2d2
/// reports the last connection error) or every connection is in use.
fn pool_error(e: diesel::r2d2::PoolError, size: u32) -> Error {
    let text = e.to_string();
    match text.split_once(": ") {
        Some((_, cause)) => unavailable(&format!("cannot connect: {cause}")),
        None => Error::RetryLater {
            message: format!("The database is busy (all {size} connections in use); retry shortly."),
            retry_after_secs: RETRY_AFTER_SECS,
        },
    }
}

/// True when `e` is a unique-constraint violation (the same on both backends).
pub fn is_unique_violation(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// Runs an insert of a row that must be new (a nonce, say) in a savepoint:
/// `Ok(false)` when a unique key already holds it. The savepoint keeps a
/// surrounding PostgreSQL transaction usable after the violation.
pub fn insert_if_new(
    c: &mut DbConn,
    insert: impl FnOnce(&mut DbConn) -> diesel::QueryResult<usize>,
) -> Result<bool, Error> {
    use diesel::connection::Connection;
    match c.transaction::<_, DieselError, _>(insert) {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(from_diesel(e)),
    }
}

pub type PooledConn = PooledConnection<Manager>;

/// Makes the pool's connections. diesel's `ConnectionManager` would have
/// the `MultiConnection` try every backend in turn, and when PostgreSQL is
/// down report only "Invalid connection url for multiconnection"; this
/// connects to the backend the URL names, so the error says what happened
/// ("Connection refused", a timeout, a bad password).
#[derive(Debug)]
pub struct Manager {
    target: String,
    backend: Backend,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.target).map(DbConn::Pg),
            Backend::Sqlite => SqliteConnection::establish(&self.target).map(DbConn::Sqlite),
        }
        .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// The region's handle on its database. Cheap to clone.
#[derive(Clone)]
pub struct Datastore {
    pool: Pool<Manager>,
    backend: Backend,
    /// Encrypts and decrypts the secret columns ([`secrets`]); current on
    /// the thread while [`Datastore::run`] and friends run a closure.
    key: secrets::SecretsKey,
    /// Calls waiting for a pooled connection right now (`/metrics`): r2d2
    /// does not count its waiters, so [`Datastore::run`] does, with one
    /// atomic add and subtract around the wait.
    waiting: Arc<AtomicI64>,
    /// Waiters woken when a transaction that concerns them commits.
    wakeups: Arc<wake::Wakeups>,
    /// PostgreSQL: where [`Datastore::listen_for_other_regions`] connects.
    pg_url: Option<String>,
}

/// The pool's occupancy at one moment, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    /// Connections open (in use plus idle).
    pub open: u32,
    pub idle: u32,
    pub max: u32,
    /// Calls waiting for a connection.
    pub waiting: i64,
}

/// Counts a call as waiting for a connection until dropped (also when the
/// wait ends in an error).
struct Waiting<'a>(&'a AtomicI64);

impl<'a> Waiting<'a> {
    fn enter(counter: &'a AtomicI64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Datastore {
    /// Opens the pool with default timeouts and applies pending migrations;
    /// `key` encrypts the secret columns. Regions and commands open through
    /// [`at_rest::open`], which also checks the key against the database.
    pub fn open(url: &str, pool_size: u32, key: secrets::SecretsKey) -> Result<Datastore, Error> {
        Self::open_with(url, DbOptions::with_pool_size(pool_size), key)
    }

    /// Opens the pool and applies pending migrations.
    pub fn open_with(url: &str, options: DbOptions, key: secrets::SecretsKey) -> Result<Datastore, Error> {
        let backend = Backend::of_url(url);
        migrate(url)?;
        let target = match backend {
            Backend::Sqlite => sqlite_path(url).to_string(),
            Backend::Postgres => pg_url_with_connect_timeout(url, options.connect_timeout),
        };
        let pg_url = (backend == Backend::Postgres).then(|| target.clone());
        let pool = Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.connect_timeout)
            .connection_customizer(Box::new(Customizer { busy_timeout: options.busy_timeout }))
            // A pooled PostgreSQL connection can die with its server (a
            // restart): test it before use. An SQLite connection cannot,
            // and the test was a statement on every call.
            .test_on_check_out(backend == Backend::Postgres)
            .build(Manager { target, backend })
            .map_err(|e| Error::Internal(format!("cannot open the database pool: {e}")))?;
        Ok(Datastore { pool, backend, key, waiting: Arc::default(), wakeups: Arc::default(), pg_url })
    }

    /// The key of the secret columns.
    pub fn secrets_key(&self) -> &secrets::SecretsKey {
        &self.key
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What waits for this datastore's commits (`wake`).
    pub fn wakeups(&self) -> &Arc<wake::Wakeups> {
        &self.wakeups
    }

    /// PostgreSQL: wakes this datastore's waiters for other regions'
    /// commits too (`wake::listen`; a connection and a thread of its own,
    /// for as long as the datastore lives). SQLite: nothing to do.
    pub fn listen_for_other_regions(&self) {
        if let Some(url) = &self.pg_url {
            wake::listen(url.clone(), &self.wakeups);
        }
    }

    /// How full the pool is, and how many calls wait for it.
    pub fn pool_status(&self) -> PoolStatus {
        let st = self.pool.state();
        PoolStatus {
            open: st.connections,
            idle: st.idle_connections,
            max: self.pool.max_size(),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// Runs blocking database work on tokio's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, Error> + Send + 'static,
    {
        let pool = self.pool.clone();
        let key = self.key.clone();
        let waiting = self.waiting.clone();
        let wakeups = self.wakeups.clone();
        tokio::task::spawn_blocking(move || {
            let _key = secrets::KeyScope::enter(&key);
            let wait = Waiting::enter(&waiting);
            let got = pool.get();
            drop(wait);
            let mut conn = got.map_err(|e| pool_error(e, pool.max_size()))?;
            firing_wakeups(&wakeups, &mut conn, f)
        })
        .await
        .map_err(|e| Error::Internal(format!("database task failed: {e}")))?
    }

    /// Runs `f` inside one write transaction. On SQLite it is `BEGIN IMMEDIATE`,
    /// which takes the write lock up front so two writers queue on the busy
    /// timeout instead of one failing when it upgrades a read lock.
    pub async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, Error> + Send + 'static,
    {
        self.run(move |conn| write_tx(conn, f)).await
    }

    /// Runs `f` inside one read-only transaction: one consistent snapshot,
    /// without SQLite's write lock (which [`write`](Self::write) holds
    /// from the start), so a long read does not queue every writer.
    pub async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, Error> + Send + 'static,
    {
        self.run(move |conn| read_tx(conn, f)).await
    }

    /// Synchronous access for CLI commands that run outside any runtime.
    pub fn blocking<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error> {
        let _key = secrets::KeyScope::enter(&self.key);
        let mut conn = self.pool.get().map_err(|e| pool_error(e, self.pool.max_size()))?;
        firing_wakeups(&self.wakeups, &mut conn, |c| write_tx(c, f))
    }
}

/// Runs `f` and, when it succeeds, fires the wakeups its queries marked
/// (`wake`): here, and on PostgreSQL in the other regions too.
fn firing_wakeups<T>(
    wakeups: &wake::Wakeups,
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, Error>,
) -> Result<T, Error> {
    // Marks left by an earlier closure on this thread are not ours.
    wake::take();
    let out = f(conn);
    let marks = wake::take();
    if out.is_ok() && marks != 0 {
        wakeups.fire(marks);
        if let DbConn::Pg(pg) = conn {
            wake::notify_others(pg, marks);
        }
    }
    out
}

/// One write transaction on whichever backend `conn` is.
///
/// The transaction is begun on the concrete connection (SQLite needs
/// `BEGIN IMMEDIATE`) but through diesel's transaction manager, so its state
/// stays truthful: a panic inside `f` leaves the connection marked broken and
/// the pool discards it instead of handing out a connection stuck mid-transaction.
pub fn write_tx<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error> {
    in_tx(conn, "BEGIN IMMEDIATE", None, f)
}

/// [`write_tx`] for reads: one snapshot, read-only, no write lock
/// (SQLite's deferred `BEGIN`).
pub fn read_tx<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error> {
    in_tx(conn, "BEGIN", Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), f)
}

/// `f` between `BEGIN` (as given per backend; PostgreSQL's default when
/// `None`) and `COMMIT`, or `ROLLBACK` when it fails.
fn in_tx<T>(
    conn: &mut DbConn,
    sqlite_begin: &str,
    pg_begin: Option<&str>,
    f: impl FnOnce(&mut DbConn) -> Result<T, Error>,
) -> Result<T, Error> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, sqlite_begin),
        DbConn::Pg(c) => match pg_begin {
            Some(sql) => AnsiTransactionManager::begin_transaction_sql(c, sql),
            None => AnsiTransactionManager::begin_transaction(c),
        },
    }
    .map_err(from_diesel)?;
    match f(conn) {
        Ok(v) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn).map_err(from_diesel)?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = <DbConn as Connection>::TransactionManager::rollback_transaction(conn) {
                tracing::error!(error = %rb, "rollback failed");
            }
            Err(e)
        }
    }
}

/// Runs `f` in a savepoint inside the current transaction: on error its
/// writes are rolled back (and nothing else of the transaction), so the
/// caller can record the failure and commit the rest. Without it, a job
/// failing after its first write would commit half its effects on SQLite,
/// and on PostgreSQL leave the transaction aborted so even the failure
/// could not be recorded.
pub fn savepoint<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error> {
    // Nested inside a transaction, diesel's manager issues SAVEPOINT /
    // RELEASE SAVEPOINT / ROLLBACK TO SAVEPOINT.
    <DbConn as Connection>::TransactionManager::begin_transaction(conn).map_err(from_diesel)?;
    match f(conn) {
        Ok(v) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn).map_err(from_diesel)?;
            Ok(v)
        }
        Err(e) => {
            <DbConn as Connection>::TransactionManager::rollback_transaction(conn).map_err(from_diesel)?;
            Err(e)
        }
    }
}

/// Applies every pending migration for the URL's backend; returns how many ran.
pub fn migrate(url: &str) -> Result<usize, Error> {
    if Backend::of_url(url) == Backend::Sqlite {
        if let Some(dir) = std::path::Path::new(sqlite_path(url)).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Internal(format!("cannot create database directory {}: {e}", dir.display())))?;
            }
        }
    }
    let conn = connect(url)?;
    let applied = match conn {
        DbConn::Sqlite(mut c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Pg(mut c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(|e| Error::Internal(format!("migration failed: {e}")))?;
    Ok(applied)
}

/// The current time as stored in the database (UTC, no zone).
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
