DELETE FROM volume_groups WHERE group_type <> 'lvm-vg';
ALTER TABLE filesystems DROP COLUMN acquired;
ALTER TABLE volume_groups DROP COLUMN cache_set_id;
ALTER TABLE volume_groups DROP COLUMN cache_mode;
ALTER TABLE volume_groups DROP COLUMN group_type;
