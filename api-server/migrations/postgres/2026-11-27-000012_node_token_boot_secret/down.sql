ALTER TABLE node_tokens DROP COLUMN boot_secret;
