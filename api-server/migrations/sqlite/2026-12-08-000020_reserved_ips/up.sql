-- MAAS's ReservedIP: an address of a subnet kept for one MAC. IPAM never
-- hands it to anyone else, and the rack's DHCP server gives it to that MAC.
-- MAAS's constraints: the address is unique, and one reservation per MAC
-- and subnet.
CREATE TABLE reserved_ips (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    subnet_id BIGINT NOT NULL REFERENCES subnets(id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX reserved_ips_ip ON reserved_ips(ip);
CREATE UNIQUE INDEX reserved_ips_mac_subnet ON reserved_ips(mac_address, subnet_id);
