-- Per-rack trust (docs/architecture.md, "The rack link"). The shared
-- secret only registers racks now; at first registration the region issues
-- each rack its own key and every later call is signed with it. `rack_key`
-- is read and written only through db/racks.rs (`key_of`, `set_key`), so it
-- can be encrypted at rest in one place. Racks registered before this
-- migration have none and get one at their next registration.
ALTER TABLE rack_controllers ADD COLUMN rack_key TEXT;
-- Whether the rack may drive BMCs and serve machines. A new rack is accepted
-- when it is the first one, otherwise when an admin accepts it; racks that
-- existed before this migration keep working.
ALTER TABLE rack_controllers ADD COLUMN accepted BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE rack_controllers SET accepted = TRUE;
-- Nonces of signed rack requests, shared by every region on the database so
-- a captured request cannot be replayed after a restart or to another
-- region. `ts` is the request's own timestamp; rows older than the skew
-- window are pruned (such a request is refused by its timestamp anyway).
CREATE TABLE rack_nonces (
    signer TEXT NOT NULL,
    nonce TEXT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (signer, nonce)
);
CREATE INDEX rack_nonces_ts ON rack_nonces (ts);
