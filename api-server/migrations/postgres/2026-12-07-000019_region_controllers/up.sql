-- Region controllers: every region process registers its node (node_type 3,
-- or 4 once the rack in the same process registers onto it) at start and
-- heartbeats here, so regions sharing one database all appear in
-- regioncontrollers/ with their version, services and last contact.
CREATE TABLE region_controllers (
    node_id BIGINT PRIMARY KEY NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    -- JSON array of {name, status, status_info}, shown as service_set.
    services TEXT NOT NULL DEFAULT '[]',
    -- The API URL the region listens on (HTTP), for operators.
    url TEXT NOT NULL DEFAULT '',
    started_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL
);
