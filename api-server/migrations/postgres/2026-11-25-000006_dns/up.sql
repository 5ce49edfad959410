-- DNS: user resources (a name in a domain) with their addresses and their
-- other records. Addresses are ip_addresses rows, so IPAM sees a DNS
-- resource's address as taken and the unique index on ip keeps one owner.
-- The zone serial lives in the config table (`dns_serial`).
ALTER TABLE domains ADD COLUMN forward_dns_servers TEXT NOT NULL DEFAULT '';

CREATE TABLE dns_resources (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id BIGINT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    address_ttl INTEGER,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (name, domain_id)
);

-- `owned`: the address row was created for this resource (and goes with
-- it); otherwise it belongs to someone else (a node's link) and is only
-- referenced.
CREATE TABLE dns_resource_ips (
    dnsresource_id BIGINT NOT NULL REFERENCES dns_resources(id) ON DELETE CASCADE,
    ip_address_id BIGINT NOT NULL REFERENCES ip_addresses(id) ON DELETE CASCADE,
    owned BOOLEAN NOT NULL,
    PRIMARY KEY (dnsresource_id, ip_address_id)
);
CREATE INDEX dns_resource_ips_address ON dns_resource_ips(ip_address_id);

CREATE TABLE dns_records (
    id BIGSERIAL PRIMARY KEY,
    dnsresource_id BIGINT NOT NULL REFERENCES dns_resources(id) ON DELETE CASCADE,
    rrtype TEXT NOT NULL,
    rrdata TEXT NOT NULL,
    ttl INTEGER,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX dns_records_resource ON dns_records(dnsresource_id);
