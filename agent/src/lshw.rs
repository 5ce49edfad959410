//! Hardware details in the shape MAAS keeps them: an `lshw -xml` document
//! (what MAAS's `maas-lshw` commissioning script prints) and the LLDP
//! neighbours (`maas-capture-lldpd`, `lldpctl -f xml`).
//!
//! MAAS users write tag definitions as XPath over the lshw document
//! (`//node[@class="disk"]/size > 1000000000`, `//node[@id="network"]/
//! configuration/setting[@id="driver"]/@value="ixgbe"`), so the document
//! follows lshw's element structure: nested `<node id=… class=…>` elements
//! with `description`, `product`, `vendor`, `serial`, `size units=…`,
//! `configuration/setting`, `capabilities/capability`. The agent builds it
//! from `/sys` and `/proc` rather than shipping lshw (the agent is one
//! static binary), and simulated machines build theirs from their
//! simulated inventory, so both go through [`render`].

use std::fs;
use std::path::Path;

use ironpool_common::inventory::Inventory;

/// The two detail documents a commissioning reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub lshw: Vec<u8>,
    pub lldp: Vec<u8>,
}

/// What `lldpctl -f xml` prints when it knows no neighbours; also what is
/// sent when lldpd is not there at all.
pub const EMPTY_LLDP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<lldp label=\"LLDP neighbors\"/>\n";

/// What `/sys` says about the machine beyond the [`Inventory`]: DMI
/// strings, memory banks, PCI and USB devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    pub hostname: String,
    pub sys_vendor: String,
    pub product_name: String,
    pub product_version: String,
    pub product_serial: String,
    pub product_uuid: String,
    pub board_vendor: String,
    pub board_name: String,
    pub board_version: String,
    pub board_serial: String,
    pub bios_vendor: String,
    pub bios_version: String,
    pub bios_date: String,
    /// Sizes of the populated memory banks, in bytes.
    pub memory_banks: Vec<u64>,
    pub pci: Vec<PciDevice>,
    pub usb: Vec<UsbDevice>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PciDevice {
    /// `0000:00:1f.2`.
    pub slot: String,
    /// The 24-bit class code (`0x020000` is an Ethernet controller).
    pub class: u32,
    pub vendor_id: String,
    pub device_id: String,
    pub driver: String,
    /// Network interfaces the device backs (`/sys/class/net/*/device`).
    pub netdevs: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsbDevice {
    /// The sysfs name: `1-1`, `usb2`.
    pub name: String,
    pub vendor: String,
    pub product: String,
    pub id: String,
}

fn read(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The machine's details: lshw from `root` (normally `/`), LLDP from
/// lldpd when it runs here.
pub fn collect(root: &Path, inv: &Inventory) -> Details {
    Details { lshw: render(inv, &platform(root)).into_bytes(), lldp: lldp().into_bytes() }
}

/// `lldpctl -f xml`, or [`EMPTY_LLDP`] when lldpd is not installed or not
/// running (MAAS's script fails then; a missing neighbour list is not a
/// reason to fail commissioning here).
fn lldp() -> String {
    match std::process::Command::new("lldpctl").args(["-f", "xml"]).output() {
        Ok(o) if o.status.success() && o.stdout.trim_ascii_start().starts_with(b"<") => {
            String::from_utf8(o.stdout).unwrap_or_else(|_| EMPTY_LLDP.into())
        }
        _ => EMPTY_LLDP.into(),
    }
}

/// Reads [`Platform`] from the tree at `root`.
pub fn platform(root: &Path) -> Platform {
    let dmi = |f: &str| read(root.join("sys/class/dmi/id").join(f));
    Platform {
        hostname: read(root.join("proc/sys/kernel/hostname")),
        sys_vendor: dmi("sys_vendor"),
        product_name: dmi("product_name"),
        product_version: dmi("product_version"),
        product_serial: dmi("product_serial"),
        product_uuid: dmi("product_uuid"),
        board_vendor: dmi("board_vendor"),
        board_name: dmi("board_name"),
        board_version: dmi("board_version"),
        board_serial: dmi("board_serial"),
        bios_vendor: dmi("bios_vendor"),
        bios_version: dmi("bios_version"),
        bios_date: dmi("bios_date"),
        memory_banks: memory_banks(root),
        pci: pci_devices(root),
        usb: usb_devices(root),
    }
}

/// Populated DIMMs from the SMBIOS type-17 (Memory Device) tables the
/// kernel exposes raw under /sys/firmware/dmi/entries/17-*.
fn memory_banks(root: &Path) -> Vec<u64> {
    let Ok(entries) = fs::read_dir(root.join("sys/firmware/dmi/entries")) else { return Vec::new() };
    let mut names: Vec<_> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("17-"))
        .collect();
    names.sort_by_key(|n| n[3..].parse::<u32>().unwrap_or(u32::MAX));
    names
        .iter()
        .filter_map(|n| fs::read(root.join("sys/firmware/dmi/entries").join(n).join("raw")).ok())
        .filter_map(|raw| dimm_size(&raw))
        .collect()
}

/// The size field of a type-17 structure (SMBIOS 3.x §7.18): 0 is an
/// empty slot, 0xFFFF unknown, 0x7FFF means "see Extended Size" (MiB, at
/// 0x1C); otherwise MiB, or KiB when bit 15 is set.
fn dimm_size(raw: &[u8]) -> Option<u64> {
    let size = u16::from_le_bytes([*raw.get(0x0C)?, *raw.get(0x0D)?]);
    let mib = 1024 * 1024;
    match size {
        0 | 0xFFFF => None,
        0x7FFF => {
            let ext = u32::from_le_bytes([*raw.get(0x1C)?, *raw.get(0x1D)?, *raw.get(0x1E)?, *raw.get(0x1F)?]);
            Some(u64::from(ext & 0x7FFF_FFFF) * mib)
        }
        s if s & 0x8000 != 0 => Some(u64::from(s & 0x7FFF) * 1024),
        s => Some(u64::from(s) * mib),
    }
}

fn pci_devices(root: &Path) -> Vec<PciDevice> {
    let Ok(entries) = fs::read_dir(root.join("sys/bus/pci/devices")) else { return Vec::new() };
    let mut nets: Vec<(String, String)> = Vec::new();
    if let Ok(ifs) = fs::read_dir(root.join("sys/class/net")) {
        for e in ifs.flatten() {
            // device -> ../../../0000:00:03.0: the last component is the slot.
            if let Ok(target) = fs::read_link(e.path().join("device")) {
                if let Some(slot) = target.file_name() {
                    nets.push((slot.to_string_lossy().into_owned(), e.file_name().to_string_lossy().into_owned()));
                }
            }
        }
    }
    let mut out: Vec<PciDevice> = entries
        .flatten()
        .map(|e| {
            let dir = e.path();
            let slot = e.file_name().to_string_lossy().into_owned();
            let hex = |f: &str| read(dir.join(f)).trim_start_matches("0x").to_string();
            let mut netdevs: Vec<String> = nets.iter().filter(|(s, _)| *s == slot).map(|(_, n)| n.clone()).collect();
            netdevs.sort();
            PciDevice {
                class: u32::from_str_radix(&hex("class"), 16).unwrap_or(0),
                vendor_id: hex("vendor"),
                device_id: hex("device"),
                driver: fs::read_link(dir.join("driver"))
                    .ok()
                    .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                    .unwrap_or_default(),
                netdevs,
                slot,
            }
        })
        .collect();
    out.sort_by(|a, b| a.slot.cmp(&b.slot));
    out
}

fn usb_devices(root: &Path) -> Vec<UsbDevice> {
    let Ok(entries) = fs::read_dir(root.join("sys/bus/usb/devices")) else { return Vec::new() };
    let mut out: Vec<UsbDevice> = entries
        .flatten()
        // Interfaces (`1-1:1.0`) are parts of a device, not devices.
        .filter(|e| !e.file_name().to_string_lossy().contains(':'))
        .map(|e| {
            let dir = e.path();
            UsbDevice {
                name: e.file_name().to_string_lossy().into_owned(),
                vendor: read(dir.join("manufacturer")),
                product: read(dir.join("product")),
                id: format!("{}:{}", read(dir.join("idVendor")), read(dir.join("idProduct"))),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The platform of simulated machine `seed` (its inventory is
/// [`crate::inventory::fake`]): a plausible server board and DIMMs that add
/// up to its memory.
pub fn fake_platform(seed: u64, inv: &Inventory) -> Platform {
    let gib = 1u64 << 30;
    let dimm = if inv.resources.memory.total >= 32 * gib { 16 * gib } else { 8 * gib };
    let banks = (inv.resources.memory.total / dimm).max(1) as usize;
    let nics = inv
        .ports()
        .enumerate()
        .map(|(i, (card, p))| PciDevice {
            slot: format!("0000:{:02x}:00.0", i + 1),
            class: 0x020000,
            vendor_id: "8086".into(),
            device_id: "10fb".into(),
            driver: card.driver.clone(),
            netdevs: vec![p.id.clone()],
        })
        .collect();
    Platform {
        hostname: format!("sim-{seed}"),
        sys_vendor: "Supermicro".into(),
        product_name: "SYS-1029P-WTR".into(),
        product_version: "0123456789".into(),
        product_serial: format!("S{seed:09}"),
        product_uuid: format!("00000000-0000-4000-8000-{seed:012x}"),
        board_vendor: "Supermicro".into(),
        board_name: "X11DDW-L".into(),
        board_version: "1.10".into(),
        board_serial: format!("ZM{seed:08}"),
        bios_vendor: "American Megatrends Inc.".into(),
        bios_version: "3.4".into(),
        bios_date: "10/18/2021".into(),
        memory_banks: vec![dimm; banks],
        pci: nics,
        usb: Vec::new(),
    }
}

/// The simulated machine's details (no LLDP neighbours).
pub fn fake(seed: u64, inv: &Inventory) -> Details {
    Details { lshw: render(inv, &fake_platform(seed, inv)).into_bytes(), lldp: EMPTY_LLDP.as_bytes().to_vec() }
}

// ---- the document -------------------------------------------------------------

/// An element of the document being built.
struct El {
    tag: &'static str,
    attrs: Vec<(&'static str, String)>,
    text: String,
    kids: Vec<El>,
}

impl El {
    fn new(tag: &'static str) -> El {
        El { tag, attrs: Vec::new(), text: String::new(), kids: Vec::new() }
    }

    /// `<node id=… claimed="true" class=…>`, lshw's element for every part.
    fn node(id: &str, class: &str) -> El {
        El::new("node").attr("id", id).attr("claimed", "true").attr("class", class)
    }

    fn attr(mut self, k: &'static str, v: impl Into<String>) -> El {
        self.attrs.push((k, v.into()));
        self
    }

    /// Adds `<tag>value</tag>`; lshw leaves out what it does not know.
    fn field(mut self, tag: &'static str, value: &str) -> El {
        if !value.is_empty() {
            let mut e = El::new(tag);
            e.text = value.to_string();
            self.kids.push(e);
        }
        self
    }

    /// Adds `<tag units=…>value</tag>` (sizes, widths, clocks).
    fn measure(mut self, tag: &'static str, units: &str, value: u64) -> El {
        let mut e = El::new(tag).attr("units", units);
        e.text = value.to_string();
        self.kids.push(e);
        self
    }

    fn settings(mut self, settings: &[(&str, String)]) -> El {
        let s: Vec<_> = settings.iter().filter(|(_, v)| !v.is_empty()).collect();
        if !s.is_empty() {
            let mut c = El::new("configuration");
            for (k, v) in s {
                c.kids.push(El::new("setting").attr("id", *k).attr("value", v.clone()));
            }
            self.kids.push(c);
        }
        self
    }

    fn capabilities(mut self, caps: &[(&str, &str)]) -> El {
        if !caps.is_empty() {
            let mut c = El::new("capabilities");
            for (id, text) in caps {
                let mut e = El::new("capability").attr("id", *id);
                e.text = text.to_string();
                c.kids.push(e);
            }
            self.kids.push(c);
        }
        self
    }

    fn child(mut self, e: El) -> El {
        self.kids.push(e);
        self
    }

    fn write(&self, out: &mut String, depth: usize) {
        let pad = " ".repeat(depth);
        out.push_str(&pad);
        out.push('<');
        out.push_str(self.tag);
        for (k, v) in &self.attrs {
            out.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
        if self.kids.is_empty() && self.text.is_empty() {
            out.push_str(" />\n");
            return;
        }
        out.push('>');
        out.push_str(&escape(&self.text));
        if !self.kids.is_empty() {
            out.push('\n');
            for k in &self.kids {
                k.write(out, depth + 1);
            }
            out.push_str(&pad);
        }
        out.push_str(&format!("</{}>\n", self.tag));
    }
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all (control bytes a
            // broken DMI string may hold).
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

/// lshw numbers repeated ids: `disk`, or `disk:0`, `disk:1` when several.
fn ids(base: &str, count: usize) -> impl Iterator<Item = String> + '_ {
    (0..count).map(move |i| if count == 1 { base.to_string() } else { format!("{base}:{i}") })
}

/// lshw's class for a PCI class code.
fn pci_class(code: u32) -> (&'static str, &'static str) {
    match code >> 16 {
        0x01 => ("storage", "Storage controller"),
        0x02 => ("network", "Network controller"),
        0x03 => ("display", "VGA compatible controller"),
        0x04 => ("multimedia", "Multimedia controller"),
        0x06 => ("bridge", "Bridge"),
        0x0c if (code >> 8) & 0xff == 0x03 => ("bus", "USB controller"),
        0x0c => ("bus", "Serial bus controller"),
        _ => ("generic", "PCI device"),
    }
}

/// The `lshw -xml` document for this inventory and platform.
pub fn render(inv: &Inventory, p: &Platform) -> String {
    let r = &inv.resources;
    let hostname = if p.hostname.is_empty() { "localhost" } else { p.hostname.as_str() };
    let mut core = El::node("core", "bus")
        .field("description", "Motherboard")
        .field("product", &p.board_name)
        .field("vendor", &p.board_vendor)
        .field("physid", "0")
        .field("version", &p.board_version)
        .field("serial", &p.board_serial);
    core = core.child(
        El::node("firmware", "memory")
            .field("description", "BIOS")
            .field("vendor", &p.bios_vendor)
            .field("physid", "0")
            .field("version", &p.bios_version)
            .field("date", &p.bios_date),
    );
    let threads_per_socket = r.cpu.total / (r.cpu.sockets.len().max(1) as u32);
    for ((id, s), i) in ids("cpu", r.cpu.sockets.len()).zip(&r.cpu.sockets).zip(0..) {
        core = core.child(
            El::node(&id, "processor")
                .field("description", "CPU")
                .field("product", &s.name)
                .field("vendor", &s.vendor)
                .field("physid", &format!("{}", 4 + i))
                .field("businfo", &format!("cpu@{i}"))
                .measure("size", "Hz", u64::from(s.frequency) * 1_000_000)
                .measure("width", "bits", 64)
                .settings(&[("cores", s.cores.to_string()), ("threads", threads_per_socket.to_string())]),
        );
    }
    let mut memory = El::node("memory", "memory").field("description", "System Memory").field("physid", "1").measure(
        "size",
        "bytes",
        r.memory.total,
    );
    for ((id, size), i) in ids("bank", p.memory_banks.len()).zip(&p.memory_banks).zip(0..) {
        memory = memory.child(
            El::node(&id, "memory")
                .field("description", "DIMM DDR4 Synchronous")
                .field("physid", &i.to_string())
                .field("slot", &format!("DIMM{i}"))
                .measure("size", "bytes", *size),
        );
    }
    core = core.child(memory);
    let mut pci = El::node("pci", "bridge").field("description", "Host bridge").field("physid", "100");
    // NICs: under their PCI device when /sys says which, else directly on
    // the bridge.
    let ports: Vec<_> = inv.ports().collect();
    for (id, (card, port)) in ids("network", ports.len()).zip(ports.iter().copied()) {
        let dev = p.pci.iter().find(|d| d.netdevs.contains(&port.id));
        let speed = port.link_speed;
        let mut nic = El::node(&id, "network")
            .field("description", "Ethernet interface")
            .field("product", &card.product)
            .field("vendor", &card.vendor)
            .field("businfo", &dev.map(|d| format!("pci@{}", d.slot)).unwrap_or_default())
            .field("logicalname", &port.id)
            .field("serial", &port.address);
        if port.link_detected && speed > 0 {
            nic = nic.measure("size", "bit/s", speed * 1_000_000);
        }
        nic = nic
            .settings(&[
                ("driver", card.driver.clone()),
                ("link", if port.link_detected { "yes" } else { "no" }.into()),
                ("speed", if speed > 0 { human_speed(speed) } else { String::new() }),
            ])
            .capabilities(&[("ethernet", ""), ("physical", "Physical interface")]);
        pci = pci.child(nic);
    }
    let disks = &r.storage.disks;
    if !disks.is_empty() {
        let mut storage = El::node("storage", "storage").field("description", "Storage controller");
        for (id, d) in ids("disk", disks.len()).zip(disks) {
            let mut caps: Vec<(&str, &str)> = Vec::new();
            let rpm = format!("{}rpm", d.rpm);
            let rpm_text = format!("{} rotations per minute", d.rpm);
            if d.rpm > 0 {
                caps.push((&rpm, &rpm_text));
            } else if !d.is_rotational() {
                caps.push(("ssd", "Solid State Drive"));
            }
            if d.removable {
                caps.push(("removable", "support is removable"));
            }
            storage = storage.child(
                El::node(&id, "disk")
                    .field("description", if d.id.starts_with("nvme") { "NVMe disk" } else { "ATA Disk" })
                    .field("product", &d.model)
                    .field("logicalname", &format!("/dev/{}", d.id))
                    .field("version", &d.firmware_version)
                    .field("serial", &d.serial)
                    .measure("size", "bytes", d.size)
                    .settings(&[
                        ("logicalsectorsize", d.block_size.to_string()),
                        ("sectorsize", d.block_size.to_string()),
                    ])
                    .capabilities(&caps),
            );
        }
        pci = pci.child(storage);
    }
    // Other PCI devices, by class (NICs are above).
    let others: Vec<_> = p.pci.iter().filter(|d| d.netdevs.is_empty()).collect();
    for d in others {
        let (class, description) = pci_class(d.class);
        pci = pci.child(
            El::node(class, class)
                .field("description", description)
                .field("product", &format!("PCI device {}", d.device_id))
                .field("vendor", &format!("PCI vendor {}", d.vendor_id))
                .field("businfo", &format!("pci@{}", d.slot))
                .settings(&[("driver", d.driver.clone())]),
        );
    }
    core = core.child(pci);
    if !p.usb.is_empty() {
        let mut usb = El::node("usb", "bus").field("description", "USB devices");
        for (id, u) in ids("usb", p.usb.len()).zip(&p.usb) {
            usb = usb.child(
                El::node(&id, "generic")
                    .field("description", "USB device")
                    .field("product", &u.product)
                    .field("vendor", &u.vendor)
                    .field("businfo", &format!("usb@{}", u.name))
                    .settings(&[("id", u.id.clone())]),
            );
        }
        core = core.child(usb);
    }
    let system = El::node(hostname, "system")
        .field("description", "Computer")
        .field("product", &p.product_name)
        .field("vendor", &p.sys_vendor)
        .field("version", &p.product_version)
        .field("serial", &p.product_serial)
        .measure("width", "bits", 64)
        .settings(&[("uuid", p.product_uuid.clone())])
        .child(core);
    let mut out =
        String::from("<?xml version=\"1.0\" standalone=\"yes\" ?>\n<!-- generated by ironpool-agent -->\n<list>\n");
    system.write(&mut out, 0);
    out.push_str("</list>\n");
    out
}

/// `10Gbit/s`, `100Mbit/s`: lshw's way of writing a link speed (Mbit/s in).
fn human_speed(mbit: u64) -> String {
    if mbit >= 1000 && mbit.is_multiple_of(1000) {
        format!("{}Gbit/s", mbit / 1000)
    } else {
        format!("{mbit}Mbit/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory;

    /// A small fake machine: DMI strings, one DIMM table, a NIC on a PCI
    /// device, a SATA SSD and a removable USB stick, one USB device.
    fn fake_sys(root: &Path) {
        let w = |p: &str, v: &str| {
            let p = root.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, v).unwrap();
        };
        w("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU @ 2.00GHz\ncpu MHz\t\t: 2000.000\ncpu cores\t: 2\n\nprocessor\t: 1\n");
        w("proc/meminfo", "MemTotal:       16000000 kB\n");
        w("proc/sys/kernel/hostname", "testbox\n");
        for (f, v) in [
            ("sys_vendor", "Dell Inc."),
            ("product_name", "PowerEdge R640"),
            ("product_serial", "ABC1234"),
            ("board_vendor", "Dell Inc."),
            ("board_name", "0W23H8"),
            ("bios_vendor", "Dell Inc."),
            ("bios_version", "2.12.2"),
            ("bios_date", "07/09/2021"),
        ] {
            w(&format!("sys/class/dmi/id/{f}"), &format!("{v}\n"));
        }
        // Type 17, 16 GiB in the extended size field; and an empty slot.
        let mut dimm = vec![0u8; 0x22];
        dimm[0] = 17;
        dimm[0x0C..0x0E].copy_from_slice(&0x7FFFu16.to_le_bytes());
        dimm[0x1C..0x20].copy_from_slice(&16384u32.to_le_bytes());
        let p = root.join("sys/firmware/dmi/entries/17-0");
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("raw"), &dimm).unwrap();
        let p = root.join("sys/firmware/dmi/entries/17-1");
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("raw"), vec![17u8; 0x0C].into_iter().chain([0, 0]).collect::<Vec<u8>>()).unwrap();
        // PCI: a NIC (with its driver) and a SATA controller.
        let nic = root.join("sys/bus/pci/devices/0000:3b:00.0");
        w("sys/bus/pci/devices/0000:3b:00.0/class", "0x020000\n");
        w("sys/bus/pci/devices/0000:3b:00.0/vendor", "0x8086\n");
        w("sys/bus/pci/devices/0000:3b:00.0/device", "0x1572\n");
        fs::create_dir_all(root.join("sys/bus/pci/drivers/i40e")).unwrap();
        std::os::unix::fs::symlink(root.join("sys/bus/pci/drivers/i40e"), nic.join("driver")).unwrap();
        w("sys/bus/pci/devices/0000:00:17.0/class", "0x010601\n");
        w("sys/bus/pci/devices/0000:00:17.0/vendor", "0x8086\n");
        w("sys/bus/pci/devices/0000:00:17.0/device", "0xa182\n");
        // The interface and its device link.
        w("sys/class/net/eno1/address", "3c:fd:fe:00:00:01\n");
        w("sys/class/net/eno1/carrier", "1\n");
        w("sys/class/net/eno1/speed", "10000\n");
        std::os::unix::fs::symlink(&nic, root.join("sys/class/net/eno1/device")).unwrap();
        // Disks: an SSD and a removable stick.
        for (name, size, rot, rem, model) in
            [("sda", "1953525168", "0", "0", "SSDSC2KB960G8"), ("sdb", "30031872", "1", "1", "Ultra Fit")]
        {
            w(&format!("sys/block/{name}/size"), size);
            w(&format!("sys/block/{name}/queue/rotational"), rot);
            w(&format!("sys/block/{name}/removable"), rem);
            w(&format!("sys/block/{name}/queue/logical_block_size"), "512");
            w(&format!("sys/block/{name}/device/model"), model);
        }
        w("sys/bus/usb/devices/1-1/manufacturer", "SanDisk\n");
        w("sys/bus/usb/devices/1-1/product", "Ultra Fit\n");
        w("sys/bus/usb/devices/1-1/idVendor", "0781\n");
        w("sys/bus/usb/devices/1-1/idProduct", "5583\n");
        w("sys/bus/usb/devices/1-1:1.0/bInterfaceClass", "08\n");
    }

    fn text<'a>(n: roxmltree::Node<'a, 'a>, tag: &str) -> &'a str {
        n.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text()).unwrap_or("")
    }

    #[test]
    fn lshw_from_a_fake_sys_tree() {
        let dir = tempfile::tempdir().unwrap();
        fake_sys(dir.path());
        let inv = inventory::collect(dir.path());
        let d = collect(dir.path(), &inv);
        let xml = String::from_utf8(d.lshw).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "list");
        let system = root.children().find(|n| n.is_element()).unwrap();
        assert_eq!(system.attribute("class"), Some("system"));
        assert_eq!(system.attribute("id"), Some("testbox"));
        assert_eq!(text(system, "vendor"), "Dell Inc.");
        assert_eq!(text(system, "product"), "PowerEdge R640");
        assert_eq!(text(system, "serial"), "ABC1234");
        let nodes = |class: &str| -> Vec<roxmltree::Node> {
            doc.descendants().filter(|n| n.has_tag_name("node") && n.attribute("class") == Some(class)).collect()
        };
        let bios = nodes("memory").into_iter().find(|n| n.attribute("id") == Some("firmware")).unwrap();
        assert_eq!(text(bios, "version"), "2.12.2");
        let bank = doc.descendants().find(|n| n.attribute("id") == Some("bank")).unwrap();
        assert_eq!(text(bank, "size"), (16u64 << 30).to_string(), "one populated DIMM, the empty slot left out");
        let cpu = &nodes("processor")[0];
        assert_eq!(text(*cpu, "product"), "Test CPU @ 2.00GHz");
        assert_eq!(text(*cpu, "size"), "2000000000");
        // The disks: lshw's logical names, sizes in bytes, capabilities.
        let disks = nodes("disk");
        assert_eq!(disks.len(), 2);
        assert_eq!(text(disks[0], "logicalname"), "/dev/sda");
        assert_eq!(text(disks[0], "size"), (1953525168u64 * 512).to_string());
        let caps = |n: roxmltree::Node| -> Vec<String> {
            n.descendants()
                .filter(|c| c.has_tag_name("capability"))
                .map(|c| c.attribute("id").unwrap().to_string())
                .collect()
        };
        assert_eq!(caps(disks[0]), ["ssd"]);
        assert_eq!(caps(disks[1]), ["removable"]);
        // The NIC: MAC as serial, speed in bit/s, its driver and PCI slot.
        let nic = &nodes("network")[0];
        assert_eq!(text(*nic, "logicalname"), "eno1");
        assert_eq!(text(*nic, "serial"), "3c:fd:fe:00:00:01");
        assert_eq!(text(*nic, "size"), "10000000000");
        assert_eq!(text(*nic, "businfo"), "pci@0000:3b:00.0");
        let driver = nic
            .descendants()
            .find(|s| s.has_tag_name("setting") && s.attribute("id") == Some("driver"))
            .and_then(|s| s.attribute("value"));
        assert_eq!(driver, Some("i40e"));
        // The SATA controller appears as itself; the NIC's PCI device does
        // not appear twice.
        let storage = nodes("storage");
        assert!(storage.iter().any(|n| text(*n, "businfo") == "pci@0000:00:17.0"), "{xml}");
        assert_eq!(doc.descendants().filter(|n| text(*n, "businfo") == "pci@0000:3b:00.0").count(), 1);
        let usb = doc.descendants().find(|n| text(*n, "businfo") == "usb@1-1").unwrap();
        assert_eq!(text(usb, "vendor"), "SanDisk");
        // No lldpd here: the empty neighbour list, still a document.
        assert!(roxmltree::Document::parse(std::str::from_utf8(&d.lldp).unwrap()).is_ok());
    }

    #[test]
    fn this_machine_gives_a_well_formed_document() {
        let inv = inventory::collect(Path::new("/"));
        let d = collect(Path::new("/"), &inv);
        let xml = String::from_utf8(d.lshw).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let disks = doc.descendants().filter(|n| n.attribute("class") == Some("disk")).count();
        assert_eq!(disks, inv.resources.storage.disks.len());
        assert!(roxmltree::Document::parse(std::str::from_utf8(&d.lldp).unwrap()).is_ok());
    }

    #[test]
    fn dmi_sizes() {
        let mut raw = vec![0u8; 0x22];
        raw[0x0C..0x0E].copy_from_slice(&8192u16.to_le_bytes());
        assert_eq!(dimm_size(&raw), Some(8u64 << 30));
        raw[0x0C..0x0E].copy_from_slice(&(0x8000u16 | 512).to_le_bytes());
        assert_eq!(dimm_size(&raw), Some(512 * 1024));
        raw[0x0C..0x0E].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert_eq!(dimm_size(&raw), None);
        assert_eq!(dimm_size(&raw[..4]), None);
    }

    #[test]
    fn simulated_details_parse_and_escape() {
        for seed in 0..20 {
            let inv = inventory::fake(seed);
            let d = fake(seed, &inv);
            let xml = String::from_utf8(d.lshw.clone()).unwrap();
            let doc = roxmltree::Document::parse(&xml).unwrap();
            let disks = doc.descendants().filter(|n| n.attribute("class") == Some("disk")).count();
            assert_eq!(disks, inv.resources.storage.disks.len());
            assert_eq!(d, fake(seed, &inv), "deterministic");
        }
        let mut p = Platform { hostname: "a&b".into(), sys_vendor: "<\"x\u{1}\">".into(), ..Default::default() };
        p.product_name = "it's".into();
        let xml = render(&inventory::fake(1), &p);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let system = doc.root_element().first_element_child().unwrap();
        assert_eq!(system.attribute("id"), Some("a&b"));
        assert_eq!(text(system, "vendor"), "<\"x\">");
    }
}
