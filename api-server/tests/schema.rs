//! Schema as code: fresh SQLite and PostgreSQL databases, migrated by the
//! embedded migrations, contain exactly the tables and columns (names, types,
//! nullability) that diesel's schema in `db/schema.rs` declares, and agree
//! with each other on everything else that can drift: indexes (names,
//! columns, uniqueness), foreign keys, CHECK constraints, the rows the
//! migrations seed, and the list of migrations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

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

// ---- everything else that can drift: indexes, constraints, seed rows, migration names

/// An index or uniqueness rule as both backends can state it: the table, its
/// columns in order, whether it is unique, and its name when it was created
/// with `CREATE INDEX` (constraint-backed indexes get backend-chosen names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Index {
    table: String,
    columns: Vec<String>,
    unique: bool,
    name: Option<String>,
}

/// A foreign key: (table, columns) → (table, columns), with its ON DELETE rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    table: String,
    columns: Vec<String>,
    target: String,
    target_columns: Vec<String>,
    on_delete: String,
}

/// Everything besides columns that the two backends must agree on.
#[derive(Debug, PartialEq)]
struct Extras {
    indexes: Vec<Index>,
    foreign_keys: Vec<ForeignKey>,
    /// Per table: how many CHECK constraints it has (their text is written
    /// in each backend's dialect, so the count is what can be compared).
    checks: BTreeMap<String, usize>,
    /// Rows the migrations insert, per table, as text (timestamps left out).
    seed_rows: BTreeMap<String, Vec<Vec<Option<String>>>>,
    /// Applied migration versions, in order.
    migrations: Vec<String>,
}

#[derive(QueryableByName, Debug)]
struct SqliteIndex {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    unique: i64,
    #[diesel(sql_type = Text)]
    origin: String,
}

#[derive(QueryableByName, Debug)]
struct SqliteIndexCol {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName, Debug)]
struct SqliteFk {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Text)]
    from: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    to: Option<String>,
    #[diesel(sql_type = Text)]
    on_delete: String,
}

#[derive(QueryableByName, Debug)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_unique: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    from_constraint: bool,
}

#[derive(QueryableByName, Debug)]
struct PgFk {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Text)]
    target_columns: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
}

#[derive(QueryableByName, Debug)]
struct TableCount {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName, Debug)]
struct Cell {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    v: Option<String>,
}

#[derive(QueryableByName, Debug)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Columns whose value is the moment of migration, not a seeded value.
fn comparable_columns(table: &str) -> Vec<&'static str> {
    TABLES
        .iter()
        .find(|t| t.name == table)
        .map(|t| t.columns.iter().filter(|c| c.base_type() != "Timestamp").map(|c| c.name).collect())
        .unwrap_or_default()
}

/// Booleans read back as text differ (`1`/`true`); doubles may print `1.0`.
fn normalise_cell(v: Option<String>) -> Option<String> {
    v.map(|s| match s.as_str() {
        "true" | "t" => "1".to_string(),
        "false" | "f" => "0".to_string(),
        _ => s.strip_suffix(".0").map(str::to_string).unwrap_or(s),
    })
}

/// Every table's rows (the seeded ones, on a fresh database), each column
/// read as text by `load` (one query per column keeps the row type a single
/// text cell whatever the backend).
fn seed_rows(
    cast: fn(&str) -> String,
    mut load: impl FnMut(String) -> Vec<Option<String>>,
) -> BTreeMap<String, Vec<Vec<Option<String>>>> {
    let mut out = BTreeMap::new();
    for t in TABLES {
        let cols = comparable_columns(t.name);
        let order = if cols.contains(&"id") { "id" } else { cols.first().copied().unwrap_or("1") };
        let by_col: Vec<Vec<Option<String>>> = cols
            .iter()
            .map(|col| {
                load(format!("SELECT {} AS v FROM {} ORDER BY {order}", cast(col), t.name))
                    .into_iter()
                    .map(normalise_cell)
                    .collect()
            })
            .collect();
        let n = by_col.first().map_or(0, Vec::len);
        let rows: Vec<Vec<Option<String>>> =
            (0..n).map(|i| by_col.iter().map(|col| col[i].clone()).collect()).collect();
        if !rows.is_empty() {
            out.insert(t.name.to_string(), rows);
        }
    }
    out
}

/// CHECK constraints in a `CREATE TABLE` statement as SQLite keeps it
/// (comments included, so those are cut first).
fn count_checks(create_table: &str) -> usize {
    let code: String = create_table.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
    let upper = code.to_ascii_uppercase();
    upper.match_indices("CHECK").filter(|(i, _)| upper[i + 5..].trim_start().starts_with('(')).count()
}

fn extras_sqlite(url: &str) -> Extras {
    let mut c = SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
    let mut indexes = Vec::new();
    let mut foreign_keys = Vec::new();
    let mut checks = BTreeMap::new();
    for t in TABLES {
        let list: Vec<SqliteIndex> = diesel::sql_query(format!(
            "SELECT name, \"unique\" AS \"unique\", origin FROM pragma_index_list('{}')",
            t.name
        ))
        .load(&mut c)
        .unwrap();
        for ix in list.into_iter().filter(|ix| ix.origin != "pk") {
            let cols: Vec<SqliteIndexCol> =
                // An expression column has no name here, and no attribute in
                // PostgreSQL's catalogue: both sides compare the named columns.
                diesel::sql_query(format!(
                    "SELECT name FROM pragma_index_info('{}') WHERE name IS NOT NULL ORDER BY seqno",
                    ix.name
                ))
                    .load(&mut c)
                    .unwrap();
            indexes.push(Index {
                table: t.name.to_string(),
                columns: cols.into_iter().map(|x| x.name).collect(),
                unique: ix.unique != 0,
                name: (ix.origin == "c").then_some(ix.name),
            });
        }
        let fks: Vec<SqliteFk> = diesel::sql_query(format!(
            "SELECT id, \"table\" AS \"table\", \"from\" AS \"from\", \"to\" AS \"to\", on_delete \
             FROM pragma_foreign_key_list('{}') ORDER BY id, seq",
            t.name
        ))
        .load(&mut c)
        .unwrap();
        let mut grouped: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for fk in fks {
            let e = grouped.entry(fk.id).or_insert_with(|| ForeignKey {
                table: t.name.to_string(),
                columns: Vec::new(),
                target: fk.table.clone(),
                target_columns: Vec::new(),
                on_delete: fk.on_delete.clone(),
            });
            e.columns.push(fk.from);
            // `REFERENCES t` without columns means its primary key.
            e.target_columns.push(fk.to.unwrap_or_else(|| "id".into()));
        }
        foreign_keys.extend(grouped.into_values());
        let sql: Vec<Name> = diesel::sql_query(format!(
            "SELECT sql AS name FROM sqlite_master WHERE type = 'table' AND name = '{}'",
            t.name
        ))
        .load(&mut c)
        .unwrap();
        let n = sql.first().map_or(0, |s| count_checks(&s.name));
        if n > 0 {
            checks.insert(t.name.to_string(), n);
        }
    }
    indexes.sort();
    foreign_keys.sort();
    let seed = seed_rows(
        |col| format!("CAST({col} AS TEXT)"),
        |q| diesel::sql_query(q).load::<Cell>(&mut c).unwrap().into_iter().map(|x| x.v).collect(),
    );
    let migrations: Vec<Version> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version").load(&mut c).unwrap();
    Extras {
        indexes,
        foreign_keys,
        checks,
        seed_rows: seed,
        migrations: migrations.into_iter().map(|v| v.version).collect(),
    }
}

fn extras_postgres(url: &str) -> Extras {
    let mut c = PgConnection::establish(url).unwrap();
    let list: Vec<PgIndex> = diesel::sql_query(
        "SELECT t.relname::text AS table_name, i.relname::text AS index_name, \
         array_to_string(ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) \
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS columns, \
         x.indisunique AS is_unique, \
         EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) AS from_constraint \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND NOT x.indisprimary AND t.relname != '__diesel_schema_migrations'",
    )
    .load(&mut c)
    .unwrap();
    let mut indexes: Vec<Index> = list
        .into_iter()
        .map(|ix| Index {
            table: ix.table_name,
            columns: ix.columns.split(',').map(str::to_string).collect(),
            unique: ix.is_unique,
            name: (!ix.from_constraint).then_some(ix.index_name),
        })
        .collect();
    indexes.sort();
    let fks: Vec<PgFk> = diesel::sql_query(
        "SELECT t.relname::text AS table_name, \
         array_to_string(ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) \
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS columns, \
         r.relname::text AS target, \
         array_to_string(ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord) \
           JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS target_columns, \
         CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' \
           WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END AS on_delete \
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace WHERE c.contype = 'f' AND n.nspname = 'public'",
    )
    .load(&mut c)
    .unwrap();
    let mut foreign_keys: Vec<ForeignKey> = fks
        .into_iter()
        .map(|f| ForeignKey {
            table: f.table_name,
            columns: f.columns.split(',').map(str::to_string).collect(),
            target: f.target,
            target_columns: f.target_columns.split(',').map(str::to_string).collect(),
            on_delete: f.on_delete,
        })
        .collect();
    foreign_keys.sort();
    let counts: Vec<TableCount> = diesel::sql_query(
        "SELECT t.relname::text AS table_name, count(*)::bigint AS n FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace s ON s.oid = t.relnamespace \
         WHERE c.contype = 'c' AND s.nspname = 'public' GROUP BY t.relname",
    )
    .load(&mut c)
    .unwrap();
    let checks = counts.into_iter().map(|x| (x.table_name, x.n as usize)).collect();
    let seed = seed_rows(
        |col| format!("{col}::text"),
        |q| diesel::sql_query(q).load::<Cell>(&mut c).unwrap().into_iter().map(|x| x.v).collect(),
    );
    let migrations: Vec<Version> =
        diesel::sql_query("SELECT version::text AS version FROM __diesel_schema_migrations ORDER BY version")
            .load(&mut c)
            .unwrap();
    Extras {
        indexes,
        foreign_keys,
        checks,
        seed_rows: seed,
        migrations: migrations.into_iter().map(|v| v.version).collect(),
    }
}

fn migration_dirs(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_have_the_same_indexes_constraints_seed_rows_and_migrations() {
    // The same migrations, by name, on both sides.
    let sqlite_dirs = migration_dirs("sqlite");
    assert_eq!(sqlite_dirs, migration_dirs("postgres"), "migration directories of SQLite vs PostgreSQL");

    let s = TestDb::new(Backend::Sqlite);
    db::migrate(&s.url).unwrap();
    let p = TestDb::new(Backend::Postgres);
    db::migrate(&p.url).unwrap();
    let (a, b) = (extras_sqlite(&s.url), extras_postgres(&p.url));

    // Every applied version is one of the directories (diesel records the
    // leading timestamp digits), in the same order on both.
    let versions: Vec<String> =
        sqlite_dirs.iter().map(|d| d.split('_').next().unwrap_or("").replace('-', "")).collect();
    assert_eq!(a.migrations, versions, "SQLite applied migrations vs directories");
    assert_eq!(b.migrations, versions, "PostgreSQL applied migrations vs directories");

    assert!(!a.indexes.is_empty() && !a.foreign_keys.is_empty() && !a.seed_rows.is_empty(), "{a:?}");
    let only = |x: &[Index], y: &[Index]| x.iter().filter(|i| !y.contains(i)).cloned().collect::<Vec<_>>();
    assert!(
        a.indexes == b.indexes,
        "indexes differ.\nonly in SQLite: {:#?}\nonly in PostgreSQL: {:#?}",
        only(&a.indexes, &b.indexes),
        only(&b.indexes, &a.indexes)
    );
    let only_fk = |x: &[ForeignKey], y: &[ForeignKey]| x.iter().filter(|i| !y.contains(i)).cloned().collect::<Vec<_>>();
    assert!(
        a.foreign_keys == b.foreign_keys,
        "foreign keys differ.\nonly in SQLite: {:#?}\nonly in PostgreSQL: {:#?}",
        only_fk(&a.foreign_keys, &b.foreign_keys),
        only_fk(&b.foreign_keys, &a.foreign_keys)
    );
    assert_eq!(a.checks, b.checks, "CHECK constraints per table, SQLite vs PostgreSQL");
    assert_eq!(a.seed_rows, b.seed_rows, "rows the migrations insert, SQLite vs PostgreSQL");
}

#[test]
fn extras_check_can_fail() {
    // An index only one backend has, and a changed seed row, are both seen.
    let p = TestDb::new(Backend::Postgres);
    db::migrate(&p.url).unwrap();
    let before = extras_postgres(&p.url);
    let mut c = PgConnection::establish(&p.url).unwrap();
    c.batch_execute("CREATE INDEX drift_ix ON users (email); UPDATE zones SET description = 'drift' WHERE id = 1")
        .unwrap();
    let after = extras_postgres(&p.url);
    assert_ne!(before.indexes, after.indexes);
    assert_ne!(before.seed_rows, after.seed_rows);
}
