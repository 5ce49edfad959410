-- MAAS's BootSource.skip_keyring_verification: a boot source must name a
-- keyring (keyring_filename or keyring_data) to verify the mirror's signed
-- simplestreams documents with, unless an administrator opts out
-- explicitly (an unsigned local mirror). Existing sources without a keyring
-- are not opted out: their next import fails with a message saying how to
-- fix it, instead of silently trusting an unsigned mirror.
ALTER TABLE boot_sources ADD COLUMN skip_keyring_verification BOOLEAN NOT NULL DEFAULT FALSE;
