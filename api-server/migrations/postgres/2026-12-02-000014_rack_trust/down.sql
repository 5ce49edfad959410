DROP TABLE rack_nonces;
ALTER TABLE rack_controllers DROP COLUMN accepted;
ALTER TABLE rack_controllers DROP COLUMN rack_key;
