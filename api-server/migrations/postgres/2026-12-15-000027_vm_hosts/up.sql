-- VM hosts (MAAS's Pod, a BMC of type "pod"): a libvirt host machines are
-- composed on. power_parameters is the power-parameter JSON object
-- (power_address, power_pass) with its secret fields sealed like a node's
-- (db/secrets.rs, column vm_hosts.power_parameters). The resources and
-- storage pools are what the last refresh found (memory in MiB, storage
-- in bytes, as MAAS reports them); tags, architectures and storage_pools
-- are JSON arrays.
CREATE TABLE vm_hosts (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    host_type TEXT NOT NULL,
    power_parameters TEXT NOT NULL,
    zone_id BIGINT NOT NULL REFERENCES zones(id),
    pool_id BIGINT NOT NULL REFERENCES resource_pools(id),
    tags TEXT NOT NULL DEFAULT '[]',
    cpu_over_commit_ratio DOUBLE PRECISION NOT NULL DEFAULT 1,
    memory_over_commit_ratio DOUBLE PRECISION NOT NULL DEFAULT 1,
    default_storage_pool TEXT,
    cores BIGINT NOT NULL DEFAULT 0,
    memory BIGINT NOT NULL DEFAULT 0,
    local_storage BIGINT NOT NULL DEFAULT 0,
    architectures TEXT NOT NULL DEFAULT '[]',
    storage_pools TEXT NOT NULL DEFAULT '[]',
    version TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX vm_hosts_zone_id ON vm_hosts (zone_id);
CREATE INDEX vm_hosts_pool_id ON vm_hosts (pool_id);

-- The machines a VM host runs (MAAS's VirtualMachine): the libvirt domain
-- behind each, and what it takes from the host (memory in MiB; disks as a
-- JSON array of [pool, bytes]), which the host's "used" adds up. composed
-- says Ironpool made the domain (a refresh found the others). A machine
-- deleted leaves no row behind.
CREATE TABLE vm_host_machines (
    node_id BIGINT PRIMARY KEY NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    vm_host_id BIGINT NOT NULL REFERENCES vm_hosts(id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    cores BIGINT NOT NULL,
    memory BIGINT NOT NULL,
    disks TEXT NOT NULL DEFAULT '[]',
    composed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX vm_host_machines_vm_host_id ON vm_host_machines (vm_host_id);
