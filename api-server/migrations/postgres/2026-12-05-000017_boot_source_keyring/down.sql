ALTER TABLE boot_sources DROP COLUMN skip_keyring_verification;
