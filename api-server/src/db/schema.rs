//! The database schema as diesel sees it.
//!
//! Tables are declared through [`tables!`], which expands to diesel's `table!`
//! *and* to [`TABLES`], a plain description of every column. The schema test
//! (`tests/schema.rs`) migrates fresh SQLite and PostgreSQL databases and
//! compares what they really contain with [`TABLES`], so a migration that
//! drifts from this file fails the build's tests on either backend.

/// A column as declared here: name and diesel SQL type as written
/// (`BigInt`, `Nullable<Text>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: &'static str,
    pub sql_type: &'static str,
}

impl ColumnDef {
    pub fn nullable(&self) -> bool {
        self.sql_type.starts_with("Nullable")
    }

    /// The type without `Nullable<…>`.
    pub fn base_type(&self) -> &'static str {
        let t = self.sql_type;
        match t.strip_prefix("Nullable") {
            Some(rest) => rest.trim().trim_start_matches('<').trim_end_matches('>').trim(),
            None => t,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [ColumnDef],
}

macro_rules! tables {
    ($( $table:ident ($pk:ident) { $( $col:ident -> $ty:ty, )+ } )+) => {
        $(
            diesel::table! {
                $table ($pk) {
                    $( $col -> $ty, )+
                }
            }
        )+

        /// Every table and column the code expects, in declaration order.
        pub const TABLES: &[TableDef] = &[
            $( TableDef {
                name: stringify!($table),
                columns: &[ $( ColumnDef { name: stringify!($col), sql_type: stringify!($ty) }, )+ ],
            }, )+
        ];
    };
}

tables! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        is_superuser -> Bool,
        is_active -> Bool,
        is_local -> Bool,
        created_at -> Timestamp,
        last_login -> Nullable<Timestamp>,
    }

    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        consumer_key -> Text,
        token_key -> Text,
        token_secret -> Text,
        created_at -> Timestamp,
    }

    sshkeys (id) {
        id -> BigInt,
        user_id -> BigInt,
        key -> Text,
        keysource -> Nullable<Text>,
        created_at -> Timestamp,
    }

    sslkeys (id) {
        id -> BigInt,
        user_id -> BigInt,
        key -> Text,
        created_at -> Timestamp,
    }

    config (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(sshkeys -> users (user_id));
diesel::joinable!(sslkeys -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, api_tokens, sshkeys, sslkeys, config);
