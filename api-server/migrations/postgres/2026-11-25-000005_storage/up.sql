-- Storage: block devices (physical disks and virtual devices such as LVM
-- logical volumes), their partitions (the partition table is a column of the
-- block device), filesystems (on a block device or a partition) and LVM
-- volume groups.
CREATE TABLE volume_groups (
    id BIGSERIAL PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    uuid TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (node_id, name)
);

CREATE TABLE block_devices (
    id BIGSERIAL PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    dev_type TEXT NOT NULL,
    id_path TEXT,
    model TEXT,
    serial TEXT,
    firmware_version TEXT,
    size BIGINT NOT NULL,
    block_size BIGINT NOT NULL,
    tags TEXT NOT NULL,
    uuid TEXT,
    storage_pool TEXT,
    numa_node INTEGER NOT NULL,
    is_boot_disk BOOLEAN NOT NULL,
    partition_table_type TEXT,
    volume_group_id BIGINT REFERENCES volume_groups(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (node_id, name)
);
CREATE INDEX block_devices_node ON block_devices(node_id);

CREATE TABLE partitions (
    id BIGSERIAL PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    block_device_id BIGINT NOT NULL REFERENCES block_devices(id) ON DELETE CASCADE,
    uuid TEXT NOT NULL,
    size BIGINT NOT NULL,
    bootable BOOLEAN NOT NULL,
    tags TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX partitions_node ON partitions(node_id);
CREATE INDEX partitions_device ON partitions(block_device_id);

CREATE TABLE filesystems (
    id BIGSERIAL PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    block_device_id BIGINT UNIQUE REFERENCES block_devices(id) ON DELETE CASCADE,
    partition_id BIGINT UNIQUE REFERENCES partitions(id) ON DELETE CASCADE,
    fstype TEXT NOT NULL,
    uuid TEXT NOT NULL,
    label TEXT,
    mount_point TEXT,
    mount_options TEXT,
    volume_group_id BIGINT REFERENCES volume_groups(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    CHECK ((block_device_id IS NULL) <> (partition_id IS NULL))
);
CREATE INDEX filesystems_node ON filesystems(node_id);
