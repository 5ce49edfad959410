-- OAuth nonces of HMAC-SHA1 requests, kept in the database so that a
-- signed request replayed after a region restart, or to another region on
-- the same PostgreSQL, is refused (an in-memory cache forgot them). One row
-- per (token, nonce); `ts` is the request's oauth_timestamp, so rows whose
-- timestamp is outside the accepted window can be pruned: such a request is
-- refused by its timestamp anyway (http/oauth.rs).
CREATE TABLE oauth_nonces (
    token_key TEXT NOT NULL,
    nonce TEXT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (token_key, nonce)
);
CREATE INDEX oauth_nonces_ts ON oauth_nonces (ts);
