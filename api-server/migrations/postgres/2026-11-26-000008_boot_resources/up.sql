-- Boot resources (images) and where they are imported from. File contents
-- live on disk under <data_dir>/images/sha256/<hex>, never in the database:
-- a row only names the content by its SHA-256.
CREATE TABLE boot_resources (
    id BIGSERIAL PRIMARY KEY,
    -- 0 synced (imported from a boot source), 1 generated, 2 uploaded (MAAS's codes).
    rtype INTEGER NOT NULL,
    name TEXT NOT NULL,
    architecture TEXT NOT NULL,
    title TEXT NOT NULL,
    base_image TEXT NOT NULL,
    subarches TEXT NOT NULL,
    kflavor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (name, architecture)
);

CREATE TABLE boot_resource_sets (
    id BIGSERIAL PRIMARY KEY,
    resource_id BIGINT NOT NULL REFERENCES boot_resources(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (resource_id, version)
);

CREATE TABLE boot_resource_files (
    id BIGSERIAL PRIMARY KEY,
    set_id BIGINT NOT NULL REFERENCES boot_resource_sets(id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    filetype TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- True only once the content is in the store under its name, checked.
    complete BOOLEAN NOT NULL,
    UNIQUE (set_id, filename)
);
CREATE INDEX boot_resource_files_sha256 ON boot_resource_files (sha256);

CREATE TABLE boot_sources (
    id BIGSERIAL PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    keyring_filename TEXT NOT NULL,
    keyring_data BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE boot_source_selections (
    id BIGSERIAL PRIMARY KEY,
    boot_source_id BIGINT NOT NULL REFERENCES boot_sources(id) ON DELETE CASCADE,
    os TEXT NOT NULL,
    release TEXT NOT NULL,
    -- Comma-joined lists; '*' matches everything.
    arches TEXT NOT NULL,
    subarches TEXT NOT NULL,
    labels TEXT NOT NULL,
    UNIQUE (boot_source_id, os, release)
);
