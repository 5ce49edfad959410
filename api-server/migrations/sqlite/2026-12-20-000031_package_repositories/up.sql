-- MAAS's PackageRepository: the apt archives deployed machines use. The two
-- Ubuntu archives MAAS creates (main_archive for amd64/i386, ports_archive
-- for the other architectures) are seeded here, flagged is_default (MAAS's
-- "default" column; renamed, as DEFAULT is an SQL keyword): they cannot be
-- deleted or disabled. The list fields (MAAS's ArrayFields) are JSON arrays
-- of strings, as tags are elsewhere, so both backends store the same text.
CREATE TABLE package_repositories (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    distributions TEXT NOT NULL,
    disabled_pockets TEXT NOT NULL,
    disabled_components TEXT NOT NULL,
    disable_sources BOOLEAN NOT NULL,
    components TEXT NOT NULL,
    arches TEXT NOT NULL,
    key TEXT NOT NULL,
    is_default BOOLEAN NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Inserted one after the other so they get ids 1 and 2, as in MAAS.
INSERT INTO package_repositories
    (name, url, distributions, disabled_pockets, disabled_components, disable_sources, components, arches, key,
     is_default, enabled, created_at, updated_at)
    VALUES ('main_archive', 'http://archive.ubuntu.com/ubuntu', '[]', '[]', '[]', TRUE, '[]', '["amd64","i386"]', '',
            TRUE, TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
INSERT INTO package_repositories
    (name, url, distributions, disabled_pockets, disabled_components, disable_sources, components, arches, key,
     is_default, enabled, created_at, updated_at)
    VALUES ('ports_archive', 'http://ports.ubuntu.com/ubuntu-ports', '[]', '[]', '[]', TRUE, '[]',
            '["armhf","arm64","ppc64el","s390x"]', '', TRUE, TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
