//! Schema as code: fresh SQLite and PostgreSQL databases, migrated by the
//! embedded migrations, contain exactly the tables and columns (names, types,
//! nullability) that diesel's schema in `db/schema.rs` declares.

mod common;

use std::collections::BTreeMap;

use common::*;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use ironpool_region::db::{self, schema::TABLES};

#[derive(QueryableByName, Debug)]
struct SqliteCol {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    #[diesel(column_name = type_)]
    ty: String,
    #[diesel(sql_type = BigInt)]
    notnull: i64,
}

#[derive(QueryableByName, Debug)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName, Debug)]
struct PgCol {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

/// (table → column → (normalised type, nullable))
type Shape = BTreeMap<String, BTreeMap<String, (String, bool)>>;

/// What each diesel type is stored as, per backend.
fn expected_type(diesel_type: &str, backend: Backend) -> &'static str {
    match (diesel_type, backend) {
        ("BigInt", Backend::Sqlite) => "BIGINT",
        ("BigInt", Backend::Postgres) => "bigint",
        ("Integer", Backend::Sqlite) => "INTEGER",
        ("Integer", Backend::Postgres) => "integer",
        ("Text", Backend::Sqlite) => "TEXT",
        ("Text", Backend::Postgres) => "text",
        ("Bool", Backend::Sqlite) => "BOOLEAN",
        ("Bool", Backend::Postgres) => "boolean",
        ("Timestamp", Backend::Sqlite) => "TIMESTAMP",
        ("Timestamp", Backend::Postgres) => "timestamp without time zone",
        ("Double", Backend::Sqlite) => "DOUBLE",
        ("Double", Backend::Postgres) => "double precision",
        ("Binary", Backend::Sqlite) => "BLOB",
        ("Binary", Backend::Postgres) => "bytea",
        (other, _) => panic!("schema test does not know diesel type {other}; add its mapping"),
    }
}

fn declared(backend: Backend) -> Shape {
    TABLES
        .iter()
        .map(|t| {
            let cols = t
                .columns
                .iter()
                .map(|c| (c.name.to_string(), (expected_type(c.base_type(), backend).to_string(), c.nullable())))
                .collect();
            (t.name.to_string(), cols)
        })
        .collect()
}

fn actual_sqlite(url: &str) -> Shape {
    let mut c = SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name != '__diesel_schema_migrations' ORDER BY name",
    )
    .load(&mut c)
    .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let cols: Vec<SqliteCol> = diesel::sql_query(format!(
                "SELECT name, type AS type_, \"notnull\" AS \"notnull\" FROM pragma_table_info('{}')",
                t.name
            ))
            .load(&mut c)
            .unwrap();
            // `INTEGER PRIMARY KEY` is SQLite's rowid alias, the 64-bit key.
            let cols = cols
                .into_iter()
                .map(|col| {
                    let ty = if col.ty == "INTEGER" && col.name == "id" { "BIGINT".to_string() } else { col.ty };
                    (col.name, (ty, col.notnull == 0))
                })
                .collect();
            (t.name, cols)
        })
        .collect()
}

fn actual_postgres(url: &str) -> Shape {
    let mut c = PgConnection::establish(url).unwrap();
    let cols: Vec<PgCol> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type, \
         is_nullable::text AS is_nullable FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name != '__diesel_schema_migrations'",
    )
    .load(&mut c)
    .unwrap();
    let mut shape = Shape::new();
    for col in cols {
        shape.entry(col.table_name).or_default().insert(col.column_name, (col.data_type, col.is_nullable == "YES"));
    }
    shape
}

fn check(backend: Backend) {
    let db = TestDb::new(backend);
    let applied = db::migrate(&db.url).expect("migrations apply");
    assert!(applied > 0);
    assert_eq!(db::migrate(&db.url).expect("second run"), 0, "migrations are idempotent");
    let actual = match backend {
        Backend::Sqlite => actual_sqlite(&db.url),
        Backend::Postgres => actual_postgres(&db.url),
    };
    let expected = declared(backend);
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "tables in the migrated database vs db/schema.rs"
    );
    for (table, cols) in &expected {
        assert_eq!(&actual[table], cols, "columns of {table} ({backend:?}) vs db/schema.rs");
    }
}

#[test]
fn sqlite_migrations_match_diesel_schema() {
    check(Backend::Sqlite);
}

#[test]
fn postgres_migrations_match_diesel_schema() {
    check(Backend::Postgres);
}

#[test]
fn schema_check_can_fail() {
    // Drift injected by hand must be caught: drop a column's NOT NULL.
    let db = TestDb::new(Backend::Postgres);
    db::migrate(&db.url).unwrap();
    let mut c = PgConnection::establish(&db.url).unwrap();
    c.batch_execute("ALTER TABLE users ALTER COLUMN email DROP NOT NULL").unwrap();
    let actual = actual_postgres(&db.url);
    assert_ne!(actual["users"], declared(Backend::Postgres)["users"]);
}
