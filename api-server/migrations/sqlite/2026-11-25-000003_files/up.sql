-- Per-user files (Juju's provider storage) and notifications.
CREATE TABLE files (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    filename TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    anon_key TEXT NOT NULL UNIQUE,
    content BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (owner_id, filename)
);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    ident TEXT,
    message TEXT NOT NULL,
    context TEXT NOT NULL,
    category TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    for_users BOOLEAN NOT NULL,
    for_admins BOOLEAN NOT NULL,
    dismissable BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE notification_dismissals (
    notification_id BIGINT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (notification_id, user_id)
);
