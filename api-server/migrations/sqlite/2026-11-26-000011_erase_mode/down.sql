ALTER TABLE nodes DROP COLUMN erase_mode;
