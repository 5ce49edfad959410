//! Hardware inventory: the real one read from `/proc` and `/sys` (what the
//! agent reports from an ephemeral environment), and a fake but realistic
//! one for simulated machines, deterministic per seed.

use std::fs;
use std::path::Path;

use ironpool_common::inventory::{
    Cpu, CpuSocket, Disk, Inventory, Memory, MemoryNode, Network, NetworkCard, NetworkPort, Pci, PciDevice, Resources,
    Storage, Usb, UsbDevice,
};

fn read(p: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

/// Reads this machine's inventory from `root` (normally `/`; tests may
/// point it at a fake tree).
pub fn collect(root: &Path) -> Inventory {
    let cpuinfo = read(root.join("proc/cpuinfo")).unwrap_or_default();
    let total = cpuinfo.lines().filter(|l| l.starts_with("processor")).count() as u32;
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    // Nominal speed: cpufreq's maximum when exposed, else cpuinfo's MHz.
    let frequency = read(root.join("sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"))
        .and_then(|k| k.parse::<u64>().ok())
        .map(|khz| (khz / 1000) as u32)
        .or_else(|| field("cpu MHz").and_then(|m| m.parse::<f64>().ok()).map(|m| m as u32))
        .unwrap_or(0);
    let arch = std::env::consts::ARCH.to_string();
    let cpu = Cpu {
        architecture: arch.clone(),
        total: total.max(1),
        sockets: vec![CpuSocket {
            name: field("model name").unwrap_or_default(),
            vendor: field("vendor_id").unwrap_or_default(),
            frequency,
            cores: field("cpu cores").and_then(|c| c.parse().ok()).unwrap_or(0),
        }],
    };
    let mem_kib = read(root.join("proc/meminfo"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    // Installed RAM: the online memory blocks (MemTotal is always lower,
    // by the kernel's own reservations); MemTotal where /sys has no blocks.
    let total = memory_blocks(root).unwrap_or(mem_kib * 1024);
    Inventory {
        api_version: "1.0".into(),
        architecture: arch,
        resources: Resources {
            cpu,
            memory: Memory { total, nodes: numa_nodes(root) },
            storage: Storage { disks: disks(root) },
            network: Network { cards: nics(root) },
            pci: Pci { devices: pci_devices(root) },
            usb: Usb { devices: usb_devices(root) },
        },
    }
}

/// A kernel CPU list (`0-3,8,10-11`) as numbers.
fn cpu_list(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b.min(a.saturating_add(65_535)));
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

/// NUMA nodes from /sys/devices/system/node: each node's CPUs and memory.
/// Empty where the kernel shows none (the region then reports one node).
fn numa_nodes(root: &Path) -> Vec<MemoryNode> {
    let Ok(entries) = fs::read_dir(root.join("sys/devices/system/node")) else { return Vec::new() };
    let mut out: Vec<MemoryNode> = entries
        .flatten()
        .filter_map(|e| {
            let index = e.file_name().to_string_lossy().strip_prefix("node")?.parse::<u32>().ok()?;
            let dir = e.path();
            // "Node 0 MemTotal:       1234 kB"
            let kib = read(dir.join("meminfo"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.contains("MemTotal:"))
                .and_then(|l| l.split_whitespace().rev().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            Some(MemoryNode { numa_node: index, total: kib * 1024, cpus: cpu_list(&read(dir.join("cpulist"))?) })
        })
        .collect();
    out.sort_by_key(|n| n.numa_node);
    out
}

/// The PCI address (`0000:00:04.0`) a /sys device sits under, if any: the
/// last one in its resolved path.
fn pci_address_of(dev: &Path) -> String {
    let Ok(real) = fs::canonicalize(dev) else { return String::new() };
    real.components()
        .filter_map(|c| c.as_os_str().to_str())
        .rfind(|c| is_pci_address(c))
        .unwrap_or_default()
        .to_string()
}

/// `dddd:bb:dd.f` in hex.
fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s.chars().enumerate().all(|(i, ch)| [4, 7, 10].contains(&i) || ch.is_ascii_hexdigit())
}

/// The name of the driver a /sys device is bound to.
fn driver_of(dev: &Path) -> String {
    fs::read_link(dev.join("driver"))
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// A sysfs id file (`0x8086`) as machine-resources writes ids: `8086`.
fn hex_id(v: Option<String>) -> String {
    v.map(|s| s.trim_start_matches("0x").to_lowercase()).unwrap_or_default()
}

/// Vendor and device names from the PCI ID database (pciutils' format),
/// where the environment has one; empty names otherwise.
fn pci_names(root: &Path, devices: &mut [PciDevice]) {
    let Some(db) = ["usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids"]
        .iter()
        .find_map(|p| fs::read_to_string(root.join(p)).ok())
    else {
        return;
    };
    let mut vendor = "";
    for line in db.lines() {
        if line.starts_with('#') || line.is_empty() || line.starts_with("\t\t") {
            continue;
        }
        if let Some(rest) = line.strip_prefix('\t') {
            if let Some((id, name)) = rest.split_once("  ") {
                for d in devices.iter_mut().filter(|d| d.vendor_id == vendor && d.product_id == id) {
                    d.product = name.trim().to_string();
                }
            }
        } else if line.starts_with('C') && line.as_bytes().get(1) == Some(&b' ') {
            break; // the class list follows the vendors
        } else if let Some((id, name)) = line.split_once("  ") {
            vendor = id;
            for d in devices.iter_mut().filter(|d| d.vendor_id == id) {
                d.vendor = name.trim().to_string();
            }
        }
    }
}

fn pci_devices(root: &Path) -> Vec<PciDevice> {
    let Ok(entries) = fs::read_dir(root.join("sys/bus/pci/devices")) else { return Vec::new() };
    let mut out: Vec<PciDevice> = entries
        .flatten()
        .filter_map(|e| {
            let address = e.file_name().to_string_lossy().into_owned();
            is_pci_address(&address).then_some(())?;
            let dir = e.path();
            Some(PciDevice {
                pci_address: address,
                vendor_id: hex_id(read(dir.join("vendor"))),
                product_id: hex_id(read(dir.join("device"))),
                vendor: String::new(),
                product: String::new(),
                driver: driver_of(&dir),
                // -1 where the platform has no NUMA: node 0.
                numa_node: read(dir.join("numa_node")).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0),
                class: read(dir.join("class")).unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.pci_address.cmp(&b.pci_address));
    pci_names(root, &mut out);
    out
}

/// USB devices (not their interfaces, nor the root hubs' interfaces):
/// entries of /sys/bus/usb/devices with an idVendor. The driver is the
/// first interface's (the device itself is always bound to `usb`).
fn usb_devices(root: &Path) -> Vec<UsbDevice> {
    let base = root.join("sys/bus/usb/devices");
    let Ok(entries) = fs::read_dir(&base) else { return Vec::new() };
    let mut out: Vec<UsbDevice> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = e.path();
            let vendor_id = hex_id(Some(read(dir.join("idVendor"))?));
            let driver = fs::read_dir(&dir)
                .ok()
                .into_iter()
                .flatten()
                .flatten()
                .filter(|i| i.file_name().to_string_lossy().starts_with(&format!("{name}:")))
                .map(|i| driver_of(&i.path()))
                .find(|d| !d.is_empty())
                .unwrap_or_default();
            Some(UsbDevice {
                bus_address: read(dir.join("busnum"))?.parse().ok()?,
                device_address: read(dir.join("devnum"))?.parse().ok()?,
                vendor_id,
                product_id: hex_id(read(dir.join("idProduct"))),
                vendor: read(dir.join("manufacturer")).unwrap_or_default(),
                product: read(dir.join("product")).unwrap_or_default(),
                driver,
            })
        })
        .collect();
    out.sort_by_key(|d| (d.bus_address, d.device_address));
    out
}

/// Online memory blocks × block size, from /sys/devices/system/memory.
fn memory_blocks(root: &Path) -> Option<u64> {
    let dir = root.join("sys/devices/system/memory");
    let block = u64::from_str_radix(read(dir.join("block_size_bytes"))?.trim(), 16).ok()?;
    let online = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("memory"))
        .filter(|e| read(e.path().join("online")).is_some_and(|v| v.trim() == "1"))
        .count() as u64;
    (online > 0).then_some(online * block)
}

/// Whole disks a machine could be installed on (no loop, ram, device-mapper,
/// optical or md devices).
fn is_disk(name: &str) -> bool {
    const SKIP: [&str; 7] = ["loop", "ram", "dm-", "zram", "sr", "md", "nbd"];
    !SKIP.iter().any(|p| name.starts_with(p)) && !name.contains("boot")
}

/// `/dev/disk/by-*/` names that point at `dev`.
fn link_to(root: &Path, dir: &str, dev: &str) -> String {
    let Ok(entries) = fs::read_dir(root.join("dev/disk").join(dir)) else { return String::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| fs::read_link(e.path()).ok().and_then(|t| t.file_name().map(|f| f == dev)).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().next().unwrap_or_default()
}

fn disks(root: &Path) -> Vec<Disk> {
    let Ok(entries) = fs::read_dir(root.join("sys/block")) else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_disk(&name) {
            continue;
        }
        let dir = e.path();
        let sectors = read(dir.join("size")).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        if sectors == 0 {
            continue;
        }
        out.push(Disk {
            id: name.clone(),
            model: read(dir.join("device/model")).unwrap_or_default(),
            serial: read(dir.join("device/serial")).or_else(|| read(dir.join("serial"))).unwrap_or_default(),
            // /sys reports sizes in 512-byte sectors whatever the block size.
            size: sectors * 512,
            block_size: read(dir.join("queue/logical_block_size")).and_then(|s| s.parse().ok()).unwrap_or(512),
            rotational: read(dir.join("queue/rotational")).as_deref() == Some("1"),
            rpm: 0,
            device_id: link_to(root, "by-id", &name),
            device_path: link_to(root, "by-path", &name),
            firmware_version: read(dir.join("device/firmware_rev")).unwrap_or_default(),
            removable: read(dir.join("removable")).as_deref() == Some("1"),
            pci_address: pci_address_of(&dir.join("device")),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn nics(root: &Path) -> Vec<NetworkCard> {
    let Ok(entries) = fs::read_dir(root.join("sys/class/net")) else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let dir = e.path();
        // Physical NICs have a backing device; lo, bridges and veths do not.
        if !dir.join("device").exists() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let driver = fs::read_link(dir.join("device/driver"))
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let up = read(dir.join("carrier")).as_deref() == Some("1");
        let speed = read(dir.join("speed")).and_then(|s| s.parse::<i64>().ok()).filter(|s| *s > 0).unwrap_or(0);
        out.push(NetworkCard {
            driver,
            vendor: read(dir.join("device/vendor")).unwrap_or_default(),
            product: read(dir.join("device/device")).unwrap_or_default(),
            ports: vec![NetworkPort {
                id: name,
                address: read(dir.join("address")).unwrap_or_default(),
                link_detected: up,
                link_speed: speed as u64,
            }],
            pci_address: pci_address_of(&dir.join("device")),
        });
    }
    out.sort_by(|a, b| a.ports[0].id.cmp(&b.ports[0].id));
    out
}

/// A small deterministic generator (SplitMix64): the same seed always
/// gives the same machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// A simulated machine's MAC addresses: `52:54:00` (QEMU's prefix) plus
/// three bytes from the seed and port index.
pub fn fake_macs(seed: u64, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let v = seed.wrapping_mul(4).wrapping_add(i as u64);
            format!("52:54:00:{:02x}:{:02x}:{:02x}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
        })
        .collect()
}

/// How many NICs the fake machine with this seed has (1–2).
pub fn fake_nic_count(seed: u64) -> usize {
    1 + (Rng(seed ^ 0x4e1c).next() % 2) as usize
}

/// A realistic inventory for simulated machine `seed`: 4–16 CPUs, 8–64 GiB,
/// 1–2 disks, the NICs of [`fake_macs`].
pub fn fake(seed: u64) -> Inventory {
    let mut r = Rng(seed);
    let cpus = r.pick(&[4u32, 8, 12, 16]);
    let gib = r.pick(&[8u64, 16, 32, 64]);
    let (model, vendor, mhz) = r.pick(&[
        ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", "GenuineIntel", 2200u32),
        ("Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", "GenuineIntel", 2100),
        ("AMD EPYC 7302P 16-Core Processor", "AuthenticAMD", 3000),
    ]);
    let ndisks = 1 + (r.next() % 2) as usize;
    let disks = (0..ndisks)
        .map(|i| {
            let ssd = r.next().is_multiple_of(2);
            let gb = if ssd { r.pick(&[240u64, 480, 960]) } else { r.pick(&[1000u64, 2000, 4000]) };
            let (model, serial) = if ssd {
                ("Samsung SSD 860", format!("S3Z{seed:06}{i}"))
            } else {
                ("ST2000NM0055", format!("ZC1{seed:06}{i}"))
            };
            Disk {
                id: format!("sd{}", (b'a' + i as u8) as char),
                model: model.into(),
                serial: serial.clone(),
                size: gb * 1_000_000_000,
                block_size: 512,
                rotational: !ssd,
                rpm: if ssd { 0 } else { 7200 },
                device_id: format!("wwn-0x5000c500{seed:08x}{i}"),
                device_path: format!("pci-0000:00:1f.2-ata-{}", i + 1),
                firmware_version: "SN03".into(),
                removable: false,
                pci_address: "0000:00:1f.2".into(),
            }
        })
        .collect();
    let cards = fake_macs(seed, fake_nic_count(seed))
        .into_iter()
        .enumerate()
        .map(|(i, mac)| NetworkCard {
            driver: "ixgbe".into(),
            vendor: "Intel Corporation".into(),
            product: "82599ES 10-Gigabit SFI/SFP+ Network Connection".into(),
            ports: vec![NetworkPort {
                id: format!("eno{}", i + 1),
                address: mac,
                link_detected: true,
                link_speed: 10000,
            }],
            pci_address: format!("0000:3b:00.{i}"),
        })
        .collect::<Vec<_>>();
    // Two sockets' worth of NUMA: half the CPUs and memory on each node;
    // the NICs on node 1, the SATA controller on node 0.
    let half = cpus / 2;
    let numa = (0..2u32)
        .map(|n| MemoryNode {
            numa_node: n,
            total: gib * 1024 * 1024 * 1024 / 2,
            cpus: (n * half..(n + 1) * half).collect(),
        })
        .collect();
    let mut pci = vec![
        PciDevice {
            pci_address: "0000:00:1f.2".into(),
            vendor_id: "8086".into(),
            product_id: "a182".into(),
            vendor: "Intel Corporation".into(),
            product: "C620 Series Chipset Family SATA Controller [AHCI mode]".into(),
            driver: "ahci".into(),
            numa_node: 0,
            class: "0x010601".into(),
        },
        PciDevice {
            pci_address: "0000:03:00.0".into(),
            vendor_id: "1a03".into(),
            product_id: "2000".into(),
            vendor: "ASPEED Technology, Inc.".into(),
            product: "ASPEED Graphics Family".into(),
            driver: "ast".into(),
            numa_node: 0,
            class: "0x030000".into(),
        },
    ];
    pci.extend(cards.iter().map(|c| PciDevice {
        pci_address: c.pci_address.clone(),
        vendor_id: "8086".into(),
        product_id: "10fb".into(),
        vendor: c.vendor.clone(),
        product: c.product.clone(),
        driver: c.driver.clone(),
        numa_node: 1,
        class: "0x020000".into(),
    }));
    let usb = vec![UsbDevice {
        bus_address: 1,
        device_address: 2,
        vendor_id: "046b".into(),
        product_id: "ff10".into(),
        vendor: "American Megatrends Inc.".into(),
        product: "Virtual Keyboard and Mouse".into(),
        driver: "usbhid".into(),
    }];
    Inventory {
        api_version: "1.0".into(),
        architecture: "x86_64".into(),
        resources: Resources {
            cpu: Cpu {
                architecture: "x86_64".into(),
                total: cpus,
                sockets: vec![CpuSocket { name: model.into(), vendor: vendor.into(), frequency: mhz, cores: cpus / 2 }],
            },
            memory: Memory { total: gib * 1024 * 1024 * 1024, nodes: numa },
            storage: Storage { disks },
            network: Network { cards },
            pci: Pci { devices: pci },
            usb: Usb { devices: usb },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let inv = collect(Path::new("/"));
        let processors =
            fs::read_to_string("/proc/cpuinfo").unwrap().lines().filter(|l| l.starts_with("processor")).count() as u32;
        assert_eq!(inv.resources.cpu.total, processors.max(1));
        assert!(inv.resources.memory.total > 64 * 1024 * 1024, "{:?}", inv.resources.memory);
        assert_eq!(inv.architecture, std::env::consts::ARCH);
        for d in &inv.resources.storage.disks {
            assert!(d.size > 0 && d.block_size >= 512, "{d:?}");
            assert!(is_disk(&d.id));
        }
        for (_, p) in inv.ports() {
            assert_eq!(p.address.len(), 17, "{p:?}");
        }
        // The document round-trips through the wire format.
        let back: Inventory = serde_json::from_str(&serde_json::to_string(&inv).unwrap()).unwrap();
        assert_eq!(back, inv);
    }

    #[test]
    fn fake_machines_are_deterministic_and_plausible() {
        assert_eq!(fake(7), fake(7));
        for seed in 0..50 {
            let inv = fake(seed);
            assert!((4..=16).contains(&inv.resources.cpu.total));
            let gib = inv.resources.memory.total >> 30;
            assert!((8..=64).contains(&gib));
            assert!((1..=2).contains(&inv.resources.storage.disks.len()));
            assert_eq!(inv.ports().count(), fake_nic_count(seed));
        }
        assert_ne!(fake_macs(1, 1), fake_macs(2, 1));
    }

    #[test]
    fn cpu_lists_and_pci_addresses() {
        assert_eq!(cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(cpu_list(""), Vec::<u32>::new());
        assert!(is_pci_address("0000:00:1f.2"));
        assert!(!is_pci_address("virtio1") && !is_pci_address("0000:00:1f"));
    }

    #[test]
    fn reads_numa_pci_and_usb_from_a_sys_tree() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let mk = |p: &str, v: &str| {
            let p = r.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, v).unwrap();
        };
        mk("sys/devices/system/node/node0/cpulist", "0-1\n");
        mk("sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:       1024 kB\nNode 0 MemFree: 1 kB\n");
        mk("sys/devices/system/node/node1/cpulist", "2-3\n");
        mk("sys/devices/system/node/node1/meminfo", "Node 1 MemTotal:       2048 kB\n");
        mk("sys/devices/system/node/possible", "0-1\n");
        let pci = "sys/devices/pci0000:00/0000:00:03.0";
        mk(&format!("{pci}/vendor"), "0x1AF4\n");
        mk(&format!("{pci}/device"), "0x1000\n");
        mk(&format!("{pci}/class"), "0x020000\n");
        mk(&format!("{pci}/numa_node"), "-1\n");
        fs::create_dir_all(r.join("sys/bus/pci/drivers/virtio-pci")).unwrap();
        std::os::unix::fs::symlink(r.join("sys/bus/pci/drivers/virtio-pci"), r.join(pci).join("driver")).unwrap();
        fs::create_dir_all(r.join("sys/bus/pci/devices")).unwrap();
        std::os::unix::fs::symlink(r.join(pci), r.join("sys/bus/pci/devices/0000:00:03.0")).unwrap();
        mk(
            "usr/share/misc/pci.ids",
            "# x\n1af4  Red Hat, Inc.\n\t1000  Virtio network device\n\t\t1af4 0001  sub\nC 02  Network\n",
        );
        mk("sys/bus/usb/devices/1-1/idVendor", "0627\n");
        mk("sys/bus/usb/devices/1-1/idProduct", "0001\n");
        mk("sys/bus/usb/devices/1-1/busnum", "1\n");
        mk("sys/bus/usb/devices/1-1/devnum", "2\n");
        mk("sys/bus/usb/devices/1-1/product", "QEMU USB Tablet\n");
        mk("sys/bus/usb/devices/1-0:1.0/bInterfaceClass", "09\n");

        let numa = numa_nodes(r);
        assert_eq!(numa.len(), 2, "{numa:?}");
        assert_eq!((numa[0].numa_node, numa[0].total, numa[0].cpus.clone()), (0, 1024 * 1024, vec![0, 1]));
        assert_eq!((numa[1].numa_node, numa[1].cpus.clone()), (1, vec![2, 3]));
        let pci = pci_devices(r);
        assert_eq!(pci.len(), 1, "{pci:?}");
        let d = &pci[0];
        assert_eq!((d.vendor_id.as_str(), d.product_id.as_str(), d.driver.as_str()), ("1af4", "1000", "virtio-pci"));
        assert_eq!((d.vendor.as_str(), d.product.as_str()), ("Red Hat, Inc.", "Virtio network device"));
        assert_eq!((d.numa_node, d.class.as_str()), (0, "0x020000"));
        let usb = usb_devices(r);
        assert_eq!(usb.len(), 1, "{usb:?}");
        assert_eq!((usb[0].bus_address, usb[0].device_address, usb[0].product.as_str()), (1, 2, "QEMU USB Tablet"));
    }
}
