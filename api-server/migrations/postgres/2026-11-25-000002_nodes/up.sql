-- Zones, resource pools, domains, nodes (machines, devices, controllers share
-- one table and one system_id namespace), their interfaces' identity, tags,
-- events and durable jobs.
CREATE TABLE zones (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO zones (id, name, description, created_at) VALUES (1, 'default', '', CURRENT_TIMESTAMP);
-- The explicit id 1 must not be handed out again by the sequence.
SELECT setval('zones_id_seq', 1);

CREATE TABLE resource_pools (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO resource_pools (id, name, description, created_at) VALUES (0, 'default', 'Default pool', CURRENT_TIMESTAMP);

CREATE TABLE domains (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    authoritative BOOLEAN NOT NULL,
    ttl INTEGER,
    is_default BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO domains (id, name, authoritative, ttl, is_default, created_at) VALUES (0, 'maas', TRUE, NULL, TRUE, CURRENT_TIMESTAMP);

CREATE TABLE nodes (
    id BIGSERIAL PRIMARY KEY,
    system_id TEXT NOT NULL UNIQUE,
    node_type INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    description TEXT NOT NULL,
    domain_id BIGINT NOT NULL REFERENCES domains(id),
    architecture TEXT,
    min_hwe_kernel TEXT,
    hwe_kernel TEXT,
    cpu_count INTEGER NOT NULL,
    cpu_speed INTEGER NOT NULL,
    memory BIGINT NOT NULL,
    swap_size BIGINT,
    status INTEGER NOT NULL,
    previous_status INTEGER NOT NULL,
    status_message TEXT,
    status_action TEXT,
    status_expires_at TIMESTAMP,
    error_description TEXT NOT NULL,
    owner_id BIGINT REFERENCES users(id),
    agent_name TEXT NOT NULL,
    owner_data TEXT NOT NULL,
    zone_id BIGINT NOT NULL REFERENCES zones(id),
    pool_id BIGINT REFERENCES resource_pools(id),
    osystem TEXT NOT NULL,
    distro_series TEXT NOT NULL,
    user_data BYTEA,
    power_type TEXT NOT NULL,
    power_parameters TEXT NOT NULL,
    power_state TEXT NOT NULL,
    netboot BOOLEAN NOT NULL,
    locked BOOLEAN NOT NULL,
    ephemeral_deploy BOOLEAN NOT NULL,
    enable_hw_sync BOOLEAN NOT NULL,
    enable_kernel_crash_dump BOOLEAN NOT NULL,
    hardware_uuid TEXT,
    bios_boot_method TEXT,
    hardware_info TEXT NOT NULL,
    parent_id BIGINT REFERENCES nodes(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (hostname, domain_id)
);
CREATE INDEX nodes_status ON nodes(node_type, status);
CREATE INDEX nodes_owner ON nodes(owner_id);
CREATE INDEX nodes_agent_name ON nodes(agent_name);
CREATE INDEX nodes_zone ON nodes(zone_id);
CREATE INDEX nodes_pool ON nodes(pool_id);
CREATE INDEX nodes_parent ON nodes(parent_id);

CREATE TABLE interfaces (
    id BIGSERIAL PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    iftype TEXT NOT NULL,
    mac_address TEXT,
    enabled BOOLEAN NOT NULL,
    is_boot BOOLEAN NOT NULL,
    vlan_id BIGINT,
    params TEXT NOT NULL,
    tags TEXT NOT NULL,
    link_connected BOOLEAN NOT NULL,
    interface_speed BIGINT NOT NULL,
    link_speed BIGINT NOT NULL,
    vendor TEXT,
    product TEXT,
    firmware_version TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (node_id, name)
);
CREATE INDEX interfaces_node ON interfaces(node_id);
CREATE INDEX interfaces_mac ON interfaces(mac_address);

CREATE TABLE tags (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    comment TEXT NOT NULL,
    kernel_opts TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE node_tags (
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (node_id, tag_id)
);
CREATE INDEX node_tags_tag ON node_tags(tag_id);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    node_id BIGINT REFERENCES nodes(id) ON DELETE SET NULL,
    system_id TEXT,
    hostname TEXT NOT NULL,
    username TEXT NOT NULL,
    level INTEGER NOT NULL,
    type_name TEXT NOT NULL,
    action TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_node ON events(node_id, id);

CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    node_id BIGINT REFERENCES nodes(id) ON DELETE CASCADE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    run_after TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, run_after);
