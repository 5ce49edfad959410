//! The commissioning inventory: what a machine's agent reports about its
//! hardware and the region turns into the machine's model (CPU, memory,
//! disks, NICs).
//!
//! The document is a subset of what MAAS's `machine-resources` binary prints
//! (the output of MAAS's `50-maas-01-commissioning` script), with the same
//! field names, so a real machine-resources output is accepted as is and our
//! agent's output reads like one. It travels as the file part
//! [`COMMISSIONING_SCRIPT`]`.out` of a metadata `signal` (see
//! docs/architecture.md, "Commissioning inventory").

use serde::{Deserialize, Serialize};

/// The script name whose output is the inventory (MAAS's name for the
/// script that runs machine-resources).
pub const COMMISSIONING_SCRIPT: &str = "50-maas-01-commissioning";

/// The script whose output is the `lshw -xml` document (MAAS's name; its
/// stdout is the `lshw` detail that tag definitions are evaluated against).
pub const LSHW_SCRIPT: &str = "maas-lshw";

/// The script whose output is the LLDP neighbours (`lldpctl -f xml`), the
/// `lldp` detail.
pub const LLDP_SCRIPT: &str = "maas-capture-lldpd";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    #[serde(default = "api_version")]
    pub api_version: String,
    /// Kernel architecture (`uname -m`): `x86_64`, `aarch64`, …
    #[serde(default)]
    pub architecture: String,
    pub resources: Resources,
}

fn api_version() -> String {
    "1.0".into()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub cpu: Cpu,
    pub memory: Memory,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub network: Network,
    /// PCI(e) devices (machine-resources' `pci.devices`).
    #[serde(default)]
    pub pci: Pci,
    /// USB devices (machine-resources' `usb.devices`).
    #[serde(default)]
    pub usb: Usb,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    #[serde(default)]
    pub architecture: String,
    /// Logical CPUs (threads).
    pub total: u32,
    #[serde(default)]
    pub sockets: Vec<CpuSocket>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSocket {
    /// Model name, e.g. `Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz`.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub vendor: String,
    /// Nominal frequency in MHz.
    #[serde(default)]
    pub frequency: u32,
    #[serde(default)]
    pub cores: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Bytes of RAM.
    pub total: u64,
    /// Per NUMA node (machine-resources' `memory.nodes`); empty on a
    /// machine that does not report NUMA, which the region reads as one node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<MemoryNode>,
}

/// One NUMA node: its memory as machine-resources reports it, and the
/// logical CPUs in it (`cpus`, Ironpool's addition: machine-resources
/// spreads this over `cpu.sockets[].cores[].threads[].numa_node`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryNode {
    pub numa_node: u32,
    /// Bytes.
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub cpus: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Storage {
    #[serde(default)]
    pub disks: Vec<Disk>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    /// Kernel name: `sda`, `nvme0n1`, `vda`.
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub serial: String,
    /// Bytes.
    pub size: u64,
    #[serde(default = "sector")]
    pub block_size: u64,
    #[serde(default)]
    pub rotational: bool,
    /// Spindle speed; machine-resources reports rotation this way (0 = SSD).
    #[serde(default)]
    pub rpm: u64,
    /// The `/dev/disk/by-id/` name, when udev made one.
    #[serde(default)]
    pub device_id: String,
    /// The `/dev/disk/by-path/` name.
    #[serde(default)]
    pub device_path: String,
    #[serde(default)]
    pub firmware_version: String,
    #[serde(default)]
    pub removable: bool,
    /// The controller's PCI address (`0000:00:04.0`), linking the disk to
    /// its entry in `pci.devices`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pci_address: String,
}

fn sector() -> u64 {
    512
}

impl Disk {
    /// Spinning media, by either way of saying it.
    pub fn is_rotational(&self) -> bool {
        self.rotational || self.rpm > 0
    }

    /// The stable path MAAS records as `id_path`.
    pub fn id_path(&self) -> Option<String> {
        if !self.device_id.is_empty() {
            Some(format!("/dev/disk/by-id/{}", self.device_id))
        } else if !self.device_path.is_empty() {
            Some(format!("/dev/disk/by-path/{}", self.device_path))
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    #[serde(default)]
    pub cards: Vec<NetworkCard>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkCard {
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub ports: Vec<NetworkPort>,
    /// The card's PCI address, linking it to its entry in `pci.devices`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pci_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPort {
    /// Interface name: `eth0`, `enp1s0`.
    pub id: String,
    /// MAC address.
    pub address: String,
    #[serde(default)]
    pub link_detected: bool,
    /// Mbit/s; 0 when unknown or down.
    #[serde(default)]
    pub link_speed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pci {
    #[serde(default)]
    pub devices: Vec<PciDevice>,
}

/// One PCI function, in machine-resources' field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PciDevice {
    /// Domain:bus:device.function, `0000:00:03.0`.
    pub pci_address: String,
    /// Four hex digits, `8086`.
    #[serde(default)]
    pub vendor_id: String,
    #[serde(default)]
    pub product_id: String,
    /// Names from the PCI ID database, where the environment has one.
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub product: String,
    /// The kernel driver bound to it.
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub numa_node: u32,
    /// The PCI class code (`0x020000` for Ethernet), which says what kind of
    /// device it is where no disk or card names it (Ironpool's addition).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub class: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usb {
    #[serde(default)]
    pub devices: Vec<UsbDevice>,
}

/// One USB device, in machine-resources' field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsbDevice {
    pub bus_address: u32,
    pub device_address: u32,
    #[serde(default)]
    pub vendor_id: String,
    #[serde(default)]
    pub product_id: String,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub driver: String,
}

impl Inventory {
    /// Every NIC port, with its card.
    pub fn ports(&self) -> impl Iterator<Item = (&NetworkCard, &NetworkPort)> {
        self.resources.network.cards.iter().flat_map(|c| c.ports.iter().map(move |p| (c, p)))
    }
}
