//! Boot scripts the rack renders from its cached [`BootConfig`], without a
//! round trip to the region per request (boot storms stay local): the
//! iPXE chain script, per-MAC iPXE scripts and the enlistment default.

use std::fmt::Write;

use ironpool_common::rack_link::purpose_name;
use ironpool_common::rack_link::{BootConfig, BootEntry, Purpose};

/// The first script iPXE loads (over TFTP or HTTP): chain to the per-MAC
/// script over HTTP at once, falling back to the architecture default.
pub fn chain_script(http_base: &str) -> String {
    format!(
        "#!ipxe\n\
         chain {http_base}/ipxe.cfg-${{net0/mac}} || chain {http_base}/ipxe.cfg-default-amd64\n"
    )
}

/// Parses the `{mac}` part of `ipxe.cfg-{mac}` (colons or hyphens, any case).
pub fn mac_of_request(s: &str) -> Option<String> {
    ironpool_common::rack_link::normalise_mac(s)
}

/// The script for a machine (`mac`) or, for an unknown MAC or `None`, the
/// enlistment script. `http_base` is `http://<rack>:<port>`; `rack` is the
/// rack's address as the machine reached it, substituted for `{rack}`.
pub fn ipxe_script(cfg: &BootConfig, mac: Option<&str>, http_base: &str, rack: &str) -> String {
    let known = mac.and_then(|m| cfg.machines.iter().find(|b| b.mac == m));
    match known {
        Some(m) if m.purpose == Purpose::Local => local_script(&m.hostname),
        Some(m) => {
            ephemeral_script(&m.entry, &format!("{} ({})", m.hostname, purpose_name(m.purpose)), http_base, rack)
        }
        None => ephemeral_script(&cfg.enlist, "enlistment", http_base, rack),
    }
}

fn local_script(hostname: &str) -> String {
    // sanboot on the first BIOS disk, as MAAS's local template does; `exit`
    // hands back to the firmware's next boot device if that fails.
    format!("#!ipxe\necho Ironpool: {hostname} boots from its local disk\nsanboot --no-describe --drive 0x80 || exit\n")
}

fn ephemeral_script(e: &BootEntry, what: &str, http_base: &str, rack: &str) -> String {
    let (Some(kernel), Some(initrd)) = (&e.kernel, &e.initrd) else {
        return format!(
            "#!ipxe\necho Ironpool: no boot image for {what}; import or upload boot resources on the region\nsleep 10\nexit\n"
        );
    };
    let cmdline = e.cmdline.replace("{rack}", rack);
    let mut s = String::from("#!ipxe\n");
    let _ = writeln!(s, "echo Ironpool: booting {what}");
    // `initrd=` names the initrd for EFI kernels; BIOS kernels ignore it.
    let _ = writeln!(
        s,
        "kernel {http_base}/images/{} initrd=initrd {cmdline} BOOTIF=01-${{net0/mac:hexhyp}}",
        kernel.sha256
    );
    let _ = writeln!(s, "initrd --name initrd {http_base}/images/{}", initrd.sha256);
    s.push_str("boot\n");
    s
}

/// PXELINUX's per-MAC config (`pxelinux.cfg/01-<mac>`), MAAS's forms:
/// `LOCALBOOT` for local purposes, the kernel and initrd over HTTP (lpxelinux
/// fetches http:// paths) for ephemeral ones.
pub fn pxelinux_config(cfg: &BootConfig, mac: Option<&str>, http_base: &str, rack: &str) -> String {
    let known = mac.and_then(|m| cfg.machines.iter().find(|b| b.mac == m));
    let (entry, label) = match known {
        Some(m) if m.purpose == Purpose::Local => return "DEFAULT local\nLABEL local\n  LOCALBOOT 0\n".into(),
        Some(m) => (&m.entry, purpose_name(m.purpose)),
        None => (&cfg.enlist, "enlist"),
    };
    match (&entry.kernel, &entry.initrd) {
        (Some(k), Some(i)) => format!(
            "DEFAULT {label}\nLABEL {label}\n  KERNEL {http_base}/images/{}\n  INITRD {http_base}/images/{}\n  APPEND {} BOOTIF=01-${{mac}}\n  IPAPPEND 2\n",
            k.sha256,
            i.sha256,
            entry.cmdline.replace("{rack}", rack)
        ),
        _ => "DEFAULT local\nLABEL local\n  LOCALBOOT 0\n".into(),
    }
}

/// GRUB's per-MAC config (`grub/grub.cfg-<mac>`): chainload the disk's EFI
/// loader for local purposes, `linux`/`initrd` over GRUB's HTTP client for
/// ephemeral ones.
pub fn grub_config(cfg: &BootConfig, mac: Option<&str>, rack: &str) -> String {
    let known = mac.and_then(|m| cfg.machines.iter().find(|b| b.mac == m));
    let local = "set default=0\nset timeout=0\nmenuentry 'Local' {\n  search --set=root --file /efi/debian/grubx64.efi\n  chainloader /efi/debian/grubx64.efi\n}\n";
    let (entry, label) = match known {
        Some(m) if m.purpose == Purpose::Local => return local.into(),
        Some(m) => (&m.entry, purpose_name(m.purpose)),
        None => (&cfg.enlist, "enlist"),
    };
    match (&entry.kernel, &entry.initrd) {
        (Some(k), Some(i)) => format!(
            "set default=0\nset timeout=0\nmenuentry '{label}' {{\n  linux (http,{rack})/images/{} {}\n  initrd (http,{rack})/images/{}\n}}\n",
            k.sha256,
            entry.cmdline.replace("{rack}", rack),
            i.sha256
        ),
        _ => local.into(),
    }
}

/// The GRUB config every UEFI machine loads first: its per-MAC file, then
/// the architecture default.
pub fn grub_main() -> &'static str {
    "configfile /grub/grub.cfg-${net_default_mac}\nconfigfile /grub/grub.cfg-default-amd64\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpool_common::rack_link::{BootMachine, ImageRef};

    fn img(c: char) -> ImageRef {
        ImageRef { sha256: c.to_string().repeat(64), size: 1, name: String::new() }
    }

    fn cfg() -> BootConfig {
        let entry = BootEntry {
            kernel: Some(img('a')),
            initrd: Some(img('b')),
            cmdline: "console=ttyS0 cloud-config-url=http://{rack}/MAAS/metadata/x".into(),
        };
        BootConfig {
            enlist: entry.clone(),
            machines: vec![
                BootMachine {
                    mac: "52:54:00:00:00:01".into(),
                    system_id: "abc".into(),
                    hostname: "one".into(),
                    purpose: Purpose::Commissioning,
                    entry,
                },
                BootMachine {
                    mac: "52:54:00:00:00:02".into(),
                    system_id: "def".into(),
                    hostname: "two".into(),
                    purpose: Purpose::Local,
                    entry: BootEntry { kernel: None, initrd: None, cmdline: String::new() },
                },
            ],
            images: vec![],
        }
    }

    #[test]
    fn per_purpose_scripts() {
        let c = cfg();
        let s = ipxe_script(&c, Some("52:54:00:00:00:01"), "http://10.0.0.1:5248", "10.0.0.1:5248");
        assert!(s.starts_with("#!ipxe\n"));
        assert!(s.contains("one (commissioning)"));
        assert!(s.contains("kernel http://10.0.0.1:5248/images/aaaa"));
        assert!(s.contains("cloud-config-url=http://10.0.0.1:5248/MAAS/metadata/x"));
        assert!(s.contains("initrd --name initrd http://10.0.0.1:5248/images/bbbb"));
        let s = ipxe_script(&c, Some("52:54:00:00:00:02"), "http://r", "r");
        assert!(s.contains("sanboot"), "{s}");
        let s = ipxe_script(&c, Some("52:54:00:00:00:09"), "http://r", "r");
        assert!(s.contains("enlistment"), "{s}");
        let empty = BootConfig {
            enlist: BootEntry { kernel: None, initrd: None, cmdline: String::new() },
            machines: vec![],
            images: vec![],
        };
        assert!(ipxe_script(&empty, None, "http://r", "r").contains("no boot image"));
        assert_eq!(mac_of_request("52-54-00-00-00-01").as_deref(), Some("52:54:00:00:00:01"));
        assert!(chain_script("http://r:5248").contains("ipxe.cfg-${net0/mac}"));
        let p = pxelinux_config(&c, Some("52:54:00:00:00:01"), "http://r:1", "r:1");
        assert!(p.contains("KERNEL http://r:1/images/aaaa") && p.contains("cloud-config-url=http://r:1/"), "{p}");
        assert!(pxelinux_config(&c, Some("52:54:00:00:00:02"), "http://r:1", "r:1").contains("LOCALBOOT 0"));
        let g = grub_config(&c, None, "r:1");
        assert!(g.contains("linux (http,r:1)/images/aaaa") && g.contains("'enlist'"), "{g}");
        assert!(grub_config(&c, Some("52:54:00:00:00:02"), "r:1").contains("chainloader"));
    }
}
