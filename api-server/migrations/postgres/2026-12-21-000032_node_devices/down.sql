DROP TABLE node_devices;
ALTER TABLE nodes DROP COLUMN numa;
