-- Web UI sessions (/MAAS/r/): one row per logged-in browser. The cookie
-- carries a random token; only its SHA-256 is stored, so a copy of the
-- database does not hand out live sessions. Rows live in the database (not
-- in a region's memory) so that regions sharing PostgreSQL accept each
-- other's sessions and a restart logs nobody out. csrf_token is the value
-- every state-changing form must echo (ui/session.rs). Deleting a user
-- ends their sessions (ON DELETE CASCADE).
CREATE TABLE ui_sessions (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX ui_sessions_user_id ON ui_sessions (user_id);
CREATE INDEX ui_sessions_expires_at ON ui_sessions (expires_at);
