//! The datastore: backend selection, the connection pool, migrations, and the
//! queries of each aggregate (one submodule per aggregate).
//!
//! SQLite is the embedded default; PostgreSQL lets several regions share one
//! database. Both sit behind diesel's `MultiConnection`, so every query is written
//! once. Diesel is synchronous: [`Datastore::run`] moves the work onto tokio's
//! blocking pool so no async executor thread ever waits on the database.
//! Database errors become [`error::Error`] here and nowhere else.

pub mod at_rest;
pub mod boot_resources;
pub mod config;
pub mod dns;
pub mod events;
pub mod files;
pub mod interfaces;
pub mod jobs;
pub mod metadata;
pub mod network;
pub mod nodes;
pub mod places;
pub mod racks;
pub mod related;
pub mod schema;
pub mod secrets;
pub mod sshkeys;
pub mod storage;
pub mod tags;
pub mod tokens;
pub mod types;
pub mod users;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
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

/// Connects the way the pool does, for one-off use (migrations, CLI commands).
fn connect(url: &str) -> Result<DbConn, Error> {
    let conn = match Backend::of_url(url) {
        Backend::Postgres => DbConn::Pg(PgConnection::establish(url).map_err(connect_error)?),
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(sqlite_path(url)).map_err(connect_error)?;
            configure_sqlite(&mut c).map_err(from_diesel)?;
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
/// writer; the busy timeout makes writers queue instead of failing at once.
fn configure_sqlite(c: &mut SqliteConnection) -> diesel::QueryResult<()> {
    c.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
    )
}

#[derive(Debug)]
struct Customizer;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for Customizer {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            configure_sqlite(c).map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Translates a diesel error at the datastore boundary. Callers that expect a
/// particular failure (a unique violation meaning "already exists") match on
/// the diesel error themselves before falling back to this.
pub fn from_diesel(e: DieselError) -> Error {
    match e {
        DieselError::NotFound => Error::Internal("row unexpectedly missing".into()),
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
            Error::Conflict(format!("Concurrent update, please retry: {}", info.message()))
        }
        other => Error::Internal(format!("database error: {other}")),
    }
}

/// True when `e` is a unique-constraint violation (the same on both backends).
pub fn is_unique_violation(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

pub type PooledConn = PooledConnection<ConnectionManager<DbConn>>;

/// The region's handle on its database. Cheap to clone.
#[derive(Clone)]
pub struct Datastore {
    pool: Pool<ConnectionManager<DbConn>>,
    backend: Backend,
    /// Encrypts and decrypts the secret columns ([`secrets`]); current on
    /// the thread while [`Datastore::run`] and friends run a closure.
    key: secrets::SecretsKey,
}

impl Datastore {
    /// Opens the pool and applies pending migrations; `key` encrypts the
    /// secret columns. Regions and commands open through
    /// [`at_rest::open`], which also checks the key against the database.
    pub fn open(url: &str, pool_size: u32, key: secrets::SecretsKey) -> Result<Datastore, Error> {
        let backend = Backend::of_url(url);
        migrate(url)?;
        let target = match backend {
            Backend::Sqlite => sqlite_path(url).to_string(),
            Backend::Postgres => url.to_string(),
        };
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(Customizer))
            .build(ConnectionManager::<DbConn>::new(target))
            .map_err(|e| Error::Internal(format!("cannot open the database pool: {e}")))?;
        Ok(Datastore { pool, backend, key })
    }

    /// The key of the secret columns.
    pub fn secrets_key(&self) -> &secrets::SecretsKey {
        &self.key
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs blocking database work on tokio's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, Error> + Send + 'static,
    {
        let pool = self.pool.clone();
        let key = self.key.clone();
        tokio::task::spawn_blocking(move || {
            let _key = secrets::KeyScope::enter(&key);
            let mut conn = pool.get().map_err(|e| Error::Unavailable(format!("database unavailable: {e}")))?;
            f(&mut conn)
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

    /// Synchronous access for CLI commands that run outside any runtime.
    pub fn blocking<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error> {
        let _key = secrets::KeyScope::enter(&self.key);
        let mut conn = self.pool.get().map_err(|e| Error::Unavailable(format!("database unavailable: {e}")))?;
        write_tx(&mut conn, f)
    }
}

/// One write transaction on whichever backend `conn` is.
///
/// The transaction is begun on the concrete connection (SQLite needs
/// `BEGIN IMMEDIATE`) but through diesel's transaction manager, so its state
/// stays truthful: a panic inside `f` leaves the connection marked broken and
/// the pool discards it instead of handing out a connection stuck mid-transaction.
pub fn write_tx<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c),
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
