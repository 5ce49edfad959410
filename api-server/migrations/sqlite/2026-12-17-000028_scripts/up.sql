-- MAAS's Script: a commissioning or testing script the machines run in
-- their ephemeral environment, built in (is_default, MAAS's `default`)
-- or uploaded by an administrator. tags, results, parameters, packages
-- and for_hardware are JSON text (MAAS's array and JSON fields); the
-- timeout is whole seconds (MAAS's DurationField; 0 is no limit).
CREATE TABLE scripts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    script_type INTEGER NOT NULL,
    hardware_type INTEGER NOT NULL,
    parallel INTEGER NOT NULL,
    results TEXT NOT NULL,
    parameters TEXT NOT NULL,
    packages TEXT NOT NULL,
    timeout_seconds BIGINT NOT NULL,
    destructive BOOLEAN NOT NULL,
    is_default BOOLEAN NOT NULL,
    for_hardware TEXT NOT NULL,
    may_reboot BOOLEAN NOT NULL,
    recommission BOOLEAN NOT NULL,
    apply_configured_networking BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (timeout_seconds >= 0)
);
CREATE UNIQUE INDEX scripts_name ON scripts(name);
-- Every text a script has had (MAAS's VersionedTextFile chain), with its
-- comment. The current text is the newest row; a revert deletes the rows
-- newer than its target, so ids only grow along a script's history.
CREATE TABLE script_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    script_id BIGINT NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    data TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX script_versions_script ON script_versions(script_id);
