-- Rack controllers: what each rack reported when it registered and on its
-- last heartbeat. The rack itself is a node (node_type 2) with interfaces
-- and addresses like any other node; this row holds the link state.
CREATE TABLE rack_controllers (
    node_id BIGINT PRIMARY KEY NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    -- JSON array of {name, status, status_info}, shown as service_set.
    services TEXT NOT NULL DEFAULT '[]',
    last_seen TIMESTAMP NOT NULL,
    registered_at TIMESTAMP NOT NULL
);
