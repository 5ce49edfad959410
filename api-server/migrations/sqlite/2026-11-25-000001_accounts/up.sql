-- Users, their API tokens (consumer + token in one row: MAAS deletes the
-- consumer with its token), SSH/SSL keys, and the MAAS configuration store.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_superuser BOOLEAN NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    is_local BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    last_login TIMESTAMP
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    consumer_key TEXT NOT NULL UNIQUE,
    token_key TEXT NOT NULL UNIQUE,
    token_secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX api_tokens_user_id ON api_tokens(user_id);

CREATE TABLE sshkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    keysource TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, key)
);

CREATE TABLE sslkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, key)
);

CREATE TABLE config (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
