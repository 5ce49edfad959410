//! Hardware inventory: the real one read from `/proc` and `/sys` (what the
//! agent reports from an ephemeral environment), and a fake but realistic
//! one for simulated machines, deterministic per seed.

use std::fs;
use std::path::Path;

use ironpool_common::inventory::{
    Cpu, CpuSocket, Disk, Inventory, Memory, Network, NetworkCard, NetworkPort, Resources, Storage,
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
            memory: Memory { total },
            storage: Storage { disks: disks(root) },
            network: Network { cards: nics(root) },
        },
    }
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
        })
        .collect();
    Inventory {
        api_version: "1.0".into(),
        architecture: "x86_64".into(),
        resources: Resources {
            cpu: Cpu {
                architecture: "x86_64".into(),
                total: cpus,
                sockets: vec![CpuSocket { name: model.into(), vendor: vendor.into(), frequency: mhz, cores: cpus / 2 }],
            },
            memory: Memory { total: gib * 1024 * 1024 * 1024 },
            storage: Storage { disks },
            network: Network { cards },
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
}
