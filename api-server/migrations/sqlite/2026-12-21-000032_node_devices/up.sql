-- What commissioning found beyond CPUs, memory, disks and NICs (issue 17):
-- the NUMA nodes, as a JSON array on the node (MAAS's NUMANode rows:
-- {"index", "cores", "memory" in MiB}; every machine list renders them, so
-- they ride on the row instead of costing a query per list), and the PCI
-- and USB devices (MAAS's NodeDevice), which only nodes/{id}/devices/ reads.
ALTER TABLE nodes ADD COLUMN numa TEXT NOT NULL DEFAULT '[]';

-- bus: 1 PCIE, 2 USB. hardware_type: MAAS's HARDWARE_TYPE (0 node, 3
-- storage, 4 network, 5 gpu). bus_number/device_number: the PCI bus and
-- slot, or the USB bus and device address. The physical disk or interface
-- the device backs, where commissioning linked them; a recommissioning
-- replaces every row of the node.
CREATE TABLE node_devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    bus INTEGER NOT NULL,
    hardware_type INTEGER NOT NULL,
    vendor_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    vendor_name TEXT NOT NULL,
    product_name TEXT NOT NULL,
    commissioning_driver TEXT NOT NULL,
    bus_number INTEGER NOT NULL,
    device_number INTEGER NOT NULL,
    pci_address TEXT,
    numa_node INTEGER NOT NULL,
    physical_blockdevice_id BIGINT REFERENCES block_devices(id) ON DELETE SET NULL,
    physical_interface_id BIGINT REFERENCES interfaces(id) ON DELETE SET NULL
);
CREATE INDEX node_devices_node_id ON node_devices (node_id);
