-- Network discovery (MAAS's Discovery view over neighbours): an (IP, MAC)
-- pair a rack observed on one of its networks, with the rack and interface
-- that saw it last. Racks report what their DHCP server sees over the rack
-- link; one row per pair, refreshed on every sighting.
CREATE TABLE discoveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    ip TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    hostname TEXT,
    observer_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    observer_interface_id BIGINT REFERENCES interfaces(id) ON DELETE SET NULL,
    vlan_id BIGINT REFERENCES vlans(id) ON DELETE SET NULL,
    first_seen TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX discoveries_ip_mac ON discoveries(ip, mac_address);
CREATE INDEX discoveries_last_seen ON discoveries(last_seen);
