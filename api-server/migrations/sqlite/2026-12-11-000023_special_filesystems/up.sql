-- Filesystems that need no block device (tmpfs, ramfs), mounted on a
-- machine with machines/{id}/?op=mount_special. MAAS keeps them among its
-- filesystems with neither block device nor partition; ours require one of
-- the two (a CHECK on filesystems), so they live here. `acquired` as in
-- filesystems: made by the owner while the machine is allocated, removed at
-- release; the others are the machine's own layout.
CREATE TABLE special_filesystems (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    fstype TEXT NOT NULL,
    uuid TEXT NOT NULL,
    mount_point TEXT NOT NULL,
    mount_options TEXT NOT NULL,
    acquired BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX special_filesystems_node ON special_filesystems(node_id);
