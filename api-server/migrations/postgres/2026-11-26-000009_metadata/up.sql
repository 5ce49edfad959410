-- Metadata API: every machine's own OAuth token (what its ephemeral
-- environment and deployed OS sign metadata calls with), the results its
-- scripts report, and the enlistment marker.
--
-- Node tokens live apart from api_tokens on purpose: the user API's OAuth
-- guard only looks in api_tokens, so a node token can never act as a user.
ALTER TABLE nodes ADD COLUMN enlisting BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE node_tokens (
    node_id BIGINT PRIMARY KEY NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    consumer_key TEXT NOT NULL,
    token_key TEXT NOT NULL UNIQUE,
    token_secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- The latest result of each script a node ran, per name. `phase` is the
-- node status the result was reported in (1 commissioning, 21 testing, ...);
-- `status` is MAAS's script status code (2 passed, 3 failed, ...).
CREATE TABLE script_results (
    id BIGSERIAL PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    phase INTEGER NOT NULL,
    name TEXT NOT NULL,
    status INTEGER NOT NULL,
    exit_status INTEGER,
    output BYTEA NOT NULL,
    stdout BYTEA NOT NULL,
    stderr BYTEA NOT NULL,
    result BYTEA NOT NULL,
    runtime TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (node_id, name)
);
