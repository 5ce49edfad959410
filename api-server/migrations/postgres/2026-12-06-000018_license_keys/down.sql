DROP TABLE license_keys;
