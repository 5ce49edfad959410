-- How the running (or last) disk erase was asked for: 'quick', 'secure' or
-- 'full'; read by the ephemeral environment through the preseed.
ALTER TABLE nodes ADD COLUMN erase_mode TEXT NOT NULL DEFAULT '';
