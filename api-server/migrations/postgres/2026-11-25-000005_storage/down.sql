DROP TABLE filesystems;
DROP TABLE partitions;
DROP TABLE block_devices;
DROP TABLE volume_groups;
