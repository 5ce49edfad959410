-- The network model: spaces, fabrics, VLANs, subnets, IP ranges, addresses
-- (interface links and user reservations are both address rows), interface
-- parent/child relations and static routes. The default fabric (id 0) and
-- its untagged VLAN (id 5001) always exist, as in MAAS.
CREATE TABLE spaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE fabrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    class_type TEXT,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO fabrics (id, name, description, class_type, created_at) VALUES (0, 'fabric-0', '', NULL, CURRENT_TIMESTAMP);

CREATE TABLE vlans (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    fabric_id BIGINT NOT NULL REFERENCES fabrics(id) ON DELETE CASCADE,
    vid INTEGER NOT NULL,
    name TEXT,
    description TEXT NOT NULL,
    mtu INTEGER NOT NULL,
    dhcp_on BOOLEAN NOT NULL,
    external_dhcp TEXT,
    primary_rack_id BIGINT REFERENCES nodes(id) ON DELETE SET NULL,
    secondary_rack_id BIGINT REFERENCES nodes(id) ON DELETE SET NULL,
    relay_vlan_id BIGINT REFERENCES vlans(id) ON DELETE SET NULL,
    space_id BIGINT REFERENCES spaces(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (fabric_id, vid)
);
INSERT INTO vlans (id, fabric_id, vid, name, description, mtu, dhcp_on, created_at)
    VALUES (5001, 0, 0, 'untagged', '', 1500, 0, CURRENT_TIMESTAMP);

CREATE TABLE subnets (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    cidr TEXT NOT NULL UNIQUE,
    vlan_id BIGINT NOT NULL REFERENCES vlans(id),
    gateway_ip TEXT,
    dns_servers TEXT NOT NULL,
    rdns_mode INTEGER NOT NULL,
    allow_dns BOOLEAN NOT NULL,
    allow_proxy BOOLEAN NOT NULL,
    active_discovery BOOLEAN NOT NULL,
    managed BOOLEAN NOT NULL,
    disabled_boot_architectures TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX subnets_vlan ON subnets(vlan_id);

CREATE TABLE ip_ranges (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    subnet_id BIGINT NOT NULL REFERENCES subnets(id) ON DELETE CASCADE,
    range_type TEXT NOT NULL,
    start_ip TEXT NOT NULL,
    end_ip TEXT NOT NULL,
    comment TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ip_ranges_subnet ON ip_ranges(subnet_id);

-- One row per interface link (mode auto/dhcp/static/link_up), per user
-- reservation (mode reserved) and per observed address (mode discovered).
-- `ip` is unique across the installation: subnets never overlap, so one
-- address can only be handed out once; NULL (an auto link before deploy, a
-- link_up link) may repeat.
CREATE TABLE ip_addresses (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    ip TEXT,
    mode TEXT NOT NULL,
    subnet_id BIGINT REFERENCES subnets(id) ON DELETE CASCADE,
    interface_id BIGINT REFERENCES interfaces(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    hostname TEXT NOT NULL,
    mac_address TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX ip_addresses_ip ON ip_addresses(ip);
CREATE INDEX ip_addresses_interface ON ip_addresses(interface_id);
CREATE INDEX ip_addresses_subnet ON ip_addresses(subnet_id);

CREATE TABLE interface_parents (
    child_id BIGINT NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
    parent_id BIGINT NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
    PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX interface_parents_parent ON interface_parents(parent_id);

CREATE TABLE static_routes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    source_id BIGINT NOT NULL REFERENCES subnets(id) ON DELETE CASCADE,
    destination_id BIGINT NOT NULL REFERENCES subnets(id) ON DELETE CASCADE,
    gateway_ip TEXT NOT NULL,
    metric INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (source_id, destination_id, gateway_ip)
);

ALTER TABLE nodes ADD COLUMN gateway_link_ipv4_id BIGINT REFERENCES ip_addresses(id) ON DELETE SET NULL;
ALTER TABLE nodes ADD COLUMN gateway_link_ipv6_id BIGINT REFERENCES ip_addresses(id) ON DELETE SET NULL;

-- Interfaces created before the network model joined no VLAN; put them on
-- the default untagged VLAN as enlistment does for a fresh MAC.
UPDATE interfaces SET vlan_id = 5001 WHERE vlan_id IS NULL;
