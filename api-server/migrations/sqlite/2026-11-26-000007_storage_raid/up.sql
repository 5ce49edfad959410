-- RAIDs, bcaches and bcache cache sets are filesystem groups, as LVM volume
-- groups are: rows of volume_groups told apart by group_type (`lvm-vg`,
-- `raid-0` … `raid-10`, `bcache`, `cache-set`). A member carries a
-- filesystem (`lvm-pv`, `raid`, `raid-spare`, `bcache-backing`,
-- `bcache-cache`) whose volume_group_id is its group; a RAID's or bcache's
-- device is a virtual block device whose volume_group_id is its group. A
-- bcache names its cache set in cache_set_id (the engine refuses to delete
-- a cache set in use; clearing a layout removes every group at once).
ALTER TABLE volume_groups ADD COLUMN group_type TEXT NOT NULL DEFAULT 'lvm-vg';
ALTER TABLE volume_groups ADD COLUMN cache_mode TEXT;
ALTER TABLE volume_groups ADD COLUMN cache_set_id BIGINT;

-- Filesystems made by the owner of an Allocated machine; release deletes them.
ALTER TABLE filesystems ADD COLUMN acquired BOOLEAN NOT NULL DEFAULT 0;
