-- A node token lives for one phase (commissioning, deploying, rescue, …):
-- it is replaced when the machine enters the next phase and deleted when it
-- leaves its last (engine/metadata/token.rs). `boot_secret` is the phase's
-- one-time part of the preseed URL on the machine's kernel command line
-- (…/by-id/<system_id>/<boot_secret>/?op=get_preseed), so the preseed, which
-- carries the token, is not handed to whoever knows a system_id. Rows from
-- before this migration have none ('') and are refused until the next phase.
ALTER TABLE node_tokens ADD COLUMN boot_secret TEXT NOT NULL DEFAULT '';
