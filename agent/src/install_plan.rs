//! The installer's storage plan: curtin's storage configuration (the
//! install document's `storage`, rendered by the region from the machine's
//! storage model) turned into the commands that build it on this machine,
//! in order, and the `fstab` the installed OS mounts by.
//!
//! Planning is separate from running so the plan can be checked without a
//! machine: every step is a command line (and its standard input), nothing
//! here touches a disk. What each operation becomes:
//!
//! - `disk`: found among this machine's disks by serial (and model), else by
//!   the `path` the region gave, else by kernel name; every signature wiped
//!   (`wipefs -a`), and, with a `ptable`, a new empty table (`sfdisk`,
//!   `label: gpt` or `dos`);
//! - `partition`: appended with `sfdisk --append` at its offset (the first
//!   one) and size, typed by its flag: `bios_grub`, `prep`, `boot` (the EFI
//!   system partition on GPT, the bootable flag on MBR), `extended`,
//!   `logical`, else Linux;
//! - `raid`: `mdadm --create /dev/md/NAME` with its level, devices and spares;
//! - `bcache`: `make-bcache -B backing -C cache` (the device is the next
//!   `/dev/bcacheN`), its cache mode written to sysfs;
//! - `lvm_volgroup`: `pvcreate` then `vgcreate`; `lvm_partition`: `lvcreate`
//!   with the size in bytes;
//! - `format`: `mkfs.<fstype>` with the label and the UUID the region
//!   recorded (so `fstab` can name it before the filesystem exists);
//! - `mount`: `mkdir -p` and `mount` under the target root, in path order;
//!   swap is not mounted, only listed in `fstab`.
//!
//! A disk the document names that this machine does not have, an operation
//! that names an id not defined before it, or an unknown operation or
//! filesystem type is an error naming it: the deployment fails before any
//! disk is touched.

use std::collections::HashMap;

use ironpool_common::inventory::Inventory;
use serde_json::Value;

/// One command of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub argv: Vec<String>,
    /// Fed to the command's standard input (sfdisk scripts).
    pub stdin: Option<String>,
}

fn step(argv: &[&str]) -> Step {
    Step { argv: argv.iter().map(|s| s.to_string()).collect(), stdin: None }
}

/// The whole plan: the commands, and the `fstab` of the installed OS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub fstab: String,
    /// The disks (device nodes) the document wipes, in order: what a
    /// failed install spoils so a half-written disk never boots.
    pub disks: Vec<String>,
    /// The disks the bootloader goes on (`grub_device: true`).
    pub grub_devices: Vec<String>,
    /// Where the plan mounts filesystems, in mount order (unmounted in
    /// reverse).
    pub mounts: Vec<String>,
    /// The plan assembles RAID arrays: the installed OS needs them in its
    /// `mdadm.conf` and initramfs to find its root.
    pub raid: bool,
    /// (device, UUID) of each filesystem made with a UUID: the
    /// `/dev/disk/by-uuid` names udev would make, which the bootloader's
    /// configuration looks for to name the root by UUID.
    pub filesystems: Vec<(String, String)>,
}

/// GPT partition type GUIDs, and MBR types, by curtin flag.
fn partition_type(flag: Option<&str>, gpt: bool) -> Result<&'static str, String> {
    Ok(match (flag, gpt) {
        (Some("bios_grub"), true) => "21686148-6449-6E6F-744E-656564454649",
        (Some("prep"), true) => "9E1A2D38-C612-4316-AA26-8B49521E5A8B",
        (Some("boot"), true) => "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        (None | Some("linux"), true) => "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        (Some("prep"), false) => "41",
        (Some("extended"), false) => "5",
        (Some("boot" | "logical") | None | Some("linux"), false) => "83",
        (Some(other), _) => return Err(format!("partition flag '{other}' is not supported on this table")),
    })
}

/// `"1048576B"` (curtin's sizes as the region writes them) in bytes.
fn bytes(v: &Value, what: &str) -> Result<u64, String> {
    let t = v.as_str().ok_or_else(|| format!("{what}: no size"))?;
    t.strip_suffix('B').unwrap_or(t).parse::<u64>().map_err(|_| format!("{what}: size '{t}' is not a number of bytes"))
}

/// The kernel name of partition `n` of `dev` (`sda1`, `nvme0n1p1`, `md0p1`).
fn partition_device(dev: &str, n: u64) -> String {
    if dev.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{dev}p{n}")
    } else {
        format!("{dev}{n}")
    }
}

fn s<'a>(op: &'a Value, key: &str) -> Option<&'a str> {
    op.get(key).and_then(Value::as_str)
}

/// Plans `storage` (`{"version": 1, "config": [...]}`) on the machine whose
/// disks `inv` lists, mounting under `target`.
pub fn plan(storage: &Value, inv: &Inventory, target: &str) -> Result<Plan, String> {
    if storage.get("version").and_then(Value::as_i64) != Some(1) {
        return Err("only curtin storage configuration version 1 is supported".into());
    }
    let ops = storage.get("config").and_then(Value::as_array).ok_or("the storage configuration has no config")?;
    let mut out = Plan::default();
    // id → the device node it became; disk id → (its table is GPT).
    let mut dev: HashMap<String, String> = HashMap::new();
    let mut gpt: HashMap<String, bool> = HashMap::new();
    // format id → (device, fstype, uuid).
    let mut formats: HashMap<String, (String, String, String)> = HashMap::new();
    let mut bcaches = 0;
    let mut mounts: Vec<(String, String)> = Vec::new();
    let need = |dev: &HashMap<String, String>, op: &Value, key: &str| -> Result<String, String> {
        let id = s(op, key).ok_or_else(|| format!("{} has no {key}", s(op, "id").unwrap_or("an operation")))?;
        dev.get(id)
            .cloned()
            .ok_or_else(|| format!("{} needs {id}, which is not defined before it", s(op, "id").unwrap_or("?")))
    };
    let list =
        |dev: &HashMap<String, String>, op: &Value, key: &str| -> Result<Vec<String>, String> {
            let mut v = Vec::new();
            for id in op.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                v.push(dev.get(id).cloned().ok_or_else(|| {
                    format!("{} needs {id}, which is not defined before it", s(op, "id").unwrap_or("?"))
                })?);
            }
            Ok(v)
        };
    for op in ops {
        let id = s(op, "id").unwrap_or("").to_string();
        match s(op, "type").unwrap_or("") {
            "disk" => {
                let disks = &inv.resources.storage.disks;
                let found = match (s(op, "serial"), s(op, "path")) {
                    (Some(serial), _) => disks
                        .iter()
                        .find(|d| d.serial == serial && s(op, "model").is_none_or(|m| m == d.model))
                        .map(|d| format!("/dev/{}", d.id)),
                    (None, Some(path)) => disks
                        .iter()
                        .find(|d| {
                            format!("/dev/{}", d.id) == path
                                || (!d.device_id.is_empty() && path.ends_with(&d.device_id))
                                || (!d.device_path.is_empty() && path.ends_with(&d.device_path))
                        })
                        .map(|d| format!("/dev/{}", d.id))
                        .or_else(|| Some(path.to_string())),
                    (None, None) => disks.iter().find(|d| d.id == id).map(|d| format!("/dev/{}", d.id)),
                };
                let Some(node) = found else {
                    return Err(format!(
                        "disk {id} ({}) is not on this machine",
                        s(op, "serial").map(|x| format!("serial {x}")).unwrap_or_else(|| "no serial".into())
                    ));
                };
                out.steps.push(step(&["wipefs", "-a", &node]));
                out.disks.push(node.clone());
                if op.get("grub_device").and_then(Value::as_bool) == Some(true) {
                    out.grub_devices.push(node.clone());
                }
                if let Some(t) = s(op, "ptable") {
                    let label = match t {
                        "gpt" => "gpt",
                        "msdos" | "dos" => "dos",
                        other => return Err(format!("disk {id}: partition table '{other}' is not supported")),
                    };
                    out.steps.push(Step {
                        argv: vec!["sfdisk".into(), "--wipe=always".into(), "--quiet".into(), node.clone()],
                        stdin: Some(format!("label: {label}\n")),
                    });
                    gpt.insert(id.clone(), label == "gpt");
                }
                dev.insert(id, node);
            }
            "partition" => {
                let parent_id = s(op, "device").unwrap_or("").to_string();
                let parent = need(&dev, op, "device")?;
                let is_gpt = *gpt.get(&parent_id).unwrap_or(&true);
                let n =
                    op.get("number").and_then(Value::as_u64).ok_or_else(|| format!("partition {id} has no number"))?;
                let size = bytes(&op["size"], &id)?;
                let ty = partition_type(s(op, "flag"), is_gpt)?;
                let mut line = String::new();
                if let Some(off) = op.get("offset") {
                    line.push_str(&format!("start={}, ", bytes(off, &id)? / 512));
                }
                line.push_str(&format!("size={}, type={ty}", size / 512));
                if !is_gpt && s(op, "flag") == Some("boot") {
                    line.push_str(", bootable");
                }
                if let Some(uuid) = s(op, "uuid").filter(|_| is_gpt) {
                    line.push_str(&format!(", uuid={uuid}"));
                }
                out.steps.push(Step {
                    argv: vec![
                        "sfdisk".into(),
                        "--append".into(),
                        "--quiet".into(),
                        "--no-reread".into(),
                        parent.clone(),
                    ],
                    stdin: Some(format!("{line}\n")),
                });
                // The kernel learns the new table before the next step.
                if Some(op)
                    == ops
                        .iter()
                        .rfind(|o| s(o, "type") == Some("partition") && s(o, "device") == Some(parent_id.as_str()))
                {
                    out.steps.push(step(&["partx", "-u", &parent]));
                    // What an earlier install left where the new partitions
                    // start (a RAID or LVM superblock, a filesystem) would
                    // otherwise surface in them.
                    for o in ops
                        .iter()
                        .filter(|o| s(o, "type") == Some("partition") && s(o, "device") == Some(parent_id.as_str()))
                    {
                        if let Some(n) = o.get("number").and_then(Value::as_u64) {
                            out.steps.push(step(&["wipefs", "-a", &partition_device(&parent, n)]));
                        }
                    }
                }
                dev.insert(id, partition_device(&parent, n));
            }
            "raid" => {
                let devices = list(&dev, op, "devices")?;
                let spares = list(&dev, op, "spare_devices")?;
                let level = op
                    .get("raidlevel")
                    .and_then(|l| l.as_i64().or_else(|| l.as_str()?.trim_start_matches("raid").parse().ok()));
                let level = level.ok_or_else(|| format!("raid {id} has no raidlevel"))?;
                let name = s(op, "name").unwrap_or(&id).to_string();
                let node = format!("/dev/md/{name}");
                let mut argv = vec![
                    "mdadm".to_string(),
                    "--create".into(),
                    node.clone(),
                    "--run".into(),
                    "--metadata=1.2".into(),
                    format!("--level={level}"),
                    format!("--raid-devices={}", devices.len()),
                ];
                if !spares.is_empty() {
                    argv.push(format!("--spare-devices={}", spares.len()));
                }
                argv.extend(devices);
                argv.extend(spares);
                out.steps.push(Step { argv, stdin: None });
                out.raid = true;
                if let Some(t) = s(op, "ptable") {
                    let label = if t == "gpt" { "gpt" } else { "dos" };
                    out.steps.push(Step {
                        argv: vec!["sfdisk".into(), "--quiet".into(), node.clone()],
                        stdin: Some(format!("label: {label}\n")),
                    });
                    gpt.insert(id.clone(), label == "gpt");
                }
                dev.insert(id, node);
            }
            "bcache" => {
                let backing = need(&dev, op, "backing_device")?;
                let cache = need(&dev, op, "cache_device")?;
                let node = format!("/dev/bcache{bcaches}");
                bcaches += 1;
                out.steps.push(step(&["make-bcache", "--wipe-bcache", "-B", &backing, "-C", &cache]));
                if let Some(mode) = s(op, "cache_mode") {
                    out.steps.push(Step {
                        argv: vec![
                            "sh".into(),
                            "-c".into(),
                            format!("echo {mode} > /sys/block/{}/bcache/cache_mode", &node[5..]),
                        ],
                        stdin: None,
                    });
                }
                dev.insert(id, node);
            }
            "lvm_volgroup" => {
                let devices = list(&dev, op, "devices")?;
                let name = s(op, "name").unwrap_or(&id).to_string();
                let mut pv = vec!["pvcreate".to_string(), "-ff".into(), "-y".into()];
                pv.extend(devices.iter().cloned());
                out.steps.push(Step { argv: pv, stdin: None });
                let mut vg = vec!["vgcreate".to_string(), "-y".into(), name.clone()];
                vg.extend(devices);
                out.steps.push(Step { argv: vg, stdin: None });
                dev.insert(id, name);
            }
            "lvm_partition" => {
                let vg = need(&dev, op, "volgroup")?;
                let name = s(op, "name").unwrap_or(&id).to_string();
                let size = bytes(&op["size"], &id)?;
                out.steps.push(step(&["lvcreate", "-y", "-W", "y", "-n", &name, "-L", &format!("{size}b"), &vg]));
                dev.insert(id, format!("/dev/{vg}/{name}"));
            }
            "format" => {
                let node = need(&dev, op, "volume")?;
                let fstype = s(op, "fstype").unwrap_or("").to_string();
                let uuid = s(op, "uuid").unwrap_or("").to_string();
                let label = s(op, "label").unwrap_or("");
                let mut argv: Vec<String> = match fstype.as_str() {
                    "ext2" | "ext3" | "ext4" => vec![format!("mkfs.{fstype}"), "-F".into(), "-q".into()],
                    "xfs" => vec!["mkfs.xfs".into(), "-f".into()],
                    "btrfs" => vec!["mkfs.btrfs".into(), "-f".into()],
                    "vfat" | "fat32" => vec!["mkfs.vfat".into(), "-F".into(), "32".into()],
                    "swap" => vec!["mkswap".into()],
                    other => return Err(format!("format {id}: filesystem type '{other}' is not supported")),
                };
                if !label.is_empty() {
                    argv.push(if matches!(fstype.as_str(), "vfat" | "fat32") { "-n" } else { "-L" }.into());
                    argv.push(label.to_string());
                }
                if !uuid.is_empty() {
                    match fstype.as_str() {
                        "xfs" => argv.extend(["-m".into(), format!("uuid={uuid}")]),
                        // FAT has a 32-bit volume id, not a UUID.
                        "vfat" | "fat32" => argv.extend(["-i".into(), uuid.replace('-', "").chars().take(8).collect()]),
                        _ => argv.extend(["-U".into(), uuid.clone()]),
                    }
                }
                argv.push(node.clone());
                out.steps.push(Step { argv, stdin: None });
                if !uuid.is_empty() && !matches!(fstype.as_str(), "vfat" | "fat32") {
                    out.filesystems.push((node.clone(), uuid.clone()));
                }
                formats.insert(id.clone(), (node, fstype, uuid));
                dev.insert(id, String::new());
            }
            "mount" => {
                let Some(fmt) = s(op, "device") else {
                    // A special filesystem (tmpfs): only fstab knows it.
                    if let (Some(path), Some(fs)) = (s(op, "path"), s(op, "fstype")) {
                        let opts = s(op, "options").unwrap_or("defaults");
                        mounts.push((path.to_string(), format!("{fs}\t{path}\t{fs}\t{opts}\t0\t0")));
                    }
                    continue;
                };
                let (node, fstype, uuid) = formats
                    .get(fmt)
                    .cloned()
                    .ok_or_else(|| format!("mount {id} needs {fmt}, which is not defined before it"))?;
                let spec = if uuid.is_empty() || matches!(fstype.as_str(), "vfat" | "fat32") {
                    node.clone()
                } else {
                    format!("UUID={uuid}")
                };
                let opts = s(op, "options").unwrap_or("defaults").to_string();
                if fstype == "swap" {
                    mounts.push((String::from("~swap"), format!("{spec}\tnone\tswap\tsw\t0\t0")));
                    continue;
                }
                let path = s(op, "path").ok_or_else(|| format!("mount {id} has no path"))?.to_string();
                let pass = if path == "/" { 1 } else { 2 };
                mounts.push((path.clone(), format!("{spec}\t{path}\t{fstype}\t{opts}\t0\t{pass}")));
                let at = format!("{}{}", target.trim_end_matches('/'), if path == "/" { "" } else { path.as_str() });
                let at = if at.is_empty() { "/".to_string() } else { at };
                out.steps.push(step(&["mkdir", "-p", &at]));
                out.steps.push(step(&["mount", "-t", &fstype, &node, &at]));
                out.mounts.push(at);
            }
            other => return Err(format!("storage operation '{other}' ({id}) is not supported")),
        }
    }
    mounts.sort_by(|a, b| a.0.cmp(&b.0));
    out.fstab = mounts.into_iter().map(|(_, l)| l + "\n").collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inv() -> Inventory {
        let mut i = crate::inventory::fake(3);
        let disks = &mut i.resources.storage.disks;
        disks.truncate(1);
        disks[0].id = "vda".into();
        disks[0].serial = "S1".into();
        disks[0].model = "M".into();
        let mut second = disks[0].clone();
        second.id = "vdb".into();
        second.serial = "S2".into();
        disks.push(second);
        i
    }

    fn argvs(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.argv.join(" ")).collect()
    }

    #[test]
    fn flat_bios_layout() {
        let doc = json!({"version": 1, "config": [
            {"id": "sda", "type": "disk", "serial": "S1", "model": "M", "ptable": "msdos", "grub_device": true},
            {"id": "sda-part1", "type": "partition", "number": 1, "device": "sda", "offset": "4194304B", "size": "10737418240B", "uuid": "u1"},
            {"id": "sda-part1_format", "type": "format", "fstype": "ext4", "uuid": "0c1e8e2c-0000-4000-8000-000000000001", "label": "root", "volume": "sda-part1"},
            {"id": "sda-part1_mount", "type": "mount", "device": "sda-part1_format", "path": "/"}
        ]});
        let p = plan(&doc, &inv(), "/target").unwrap();
        assert_eq!(
            argvs(&p),
            [
                "wipefs -a /dev/vda",
                "sfdisk --wipe=always --quiet /dev/vda",
                "sfdisk --append --quiet --no-reread /dev/vda",
                "partx -u /dev/vda",
                "wipefs -a /dev/vda1",
                "mkfs.ext4 -F -q -L root -U 0c1e8e2c-0000-4000-8000-000000000001 /dev/vda1",
                "mkdir -p /target",
                "mount -t ext4 /dev/vda1 /target",
            ]
        );
        assert_eq!(p.steps[1].stdin.as_deref(), Some("label: dos\n"));
        // MBR: no partition UUIDs, sectors of 512 bytes.
        assert_eq!(p.steps[2].stdin.as_deref(), Some("start=8192, size=20971520, type=83\n"));
        assert_eq!(p.fstab, "UUID=0c1e8e2c-0000-4000-8000-000000000001\t/\text4\tdefaults\t0\t1\n");
        assert_eq!(
            (p.disks, p.grub_devices, p.mounts, p.raid),
            (vec!["/dev/vda".into()], vec!["/dev/vda".into()], vec!["/target".into()], false)
        );
    }

    #[test]
    fn raid_lvm_and_swap_in_dependency_order() {
        let doc = json!({"version": 1, "config": [
            {"id": "sda", "type": "disk", "serial": "S1", "ptable": "gpt", "grub_device": true},
            {"id": "sda-part1", "type": "partition", "number": 1, "device": "sda", "offset": "4194304B", "size": "1048576B", "flag": "bios_grub"},
            {"id": "sdb", "type": "disk", "path": "/dev/vdb"},
            {"id": "md0", "name": "md0", "type": "raid", "raidlevel": 1, "devices": ["sda", "sdb"], "spare_devices": []},
            {"id": "vg0", "name": "vg0", "type": "lvm_volgroup", "devices": ["md0"]},
            {"id": "vg0-root", "name": "root", "type": "lvm_partition", "volgroup": "vg0", "size": "4294967296B"},
            {"id": "vg0-swap", "name": "swap", "type": "lvm_partition", "volgroup": "vg0", "size": "1073741824B"},
            {"id": "vg0-root_format", "type": "format", "fstype": "xfs", "uuid": "u-root", "volume": "vg0-root"},
            {"id": "vg0-swap_format", "type": "format", "fstype": "swap", "uuid": "u-swap", "volume": "vg0-swap"},
            {"id": "vg0-root_mount", "type": "mount", "device": "vg0-root_format", "path": "/"},
            {"id": "vg0-swap_mount", "type": "mount", "device": "vg0-swap_format"}
        ]});
        let p = plan(&doc, &inv(), "/target").unwrap();
        let a = argvs(&p);
        assert!(
            a.contains(
                &"mdadm --create /dev/md/md0 --run --metadata=1.2 --level=1 --raid-devices=2 /dev/vda /dev/vdb".into()
            ),
            "{a:#?}"
        );
        assert!(
            a.contains(&"pvcreate -ff -y /dev/md/md0".into()) && a.contains(&"vgcreate -y vg0 /dev/md/md0".into()),
            "{a:#?}"
        );
        assert!(a.contains(&"lvcreate -y -W y -n root -L 4294967296b vg0".into()), "{a:#?}");
        assert!(
            a.contains(&"mkfs.xfs -f -m uuid=u-root /dev/vg0/root".into())
                && a.contains(&"mkswap -U u-swap /dev/vg0/swap".into())
        );
        assert_eq!(a.last().unwrap(), "mount -t xfs /dev/vg0/root /target");
        let bios = p.steps.iter().find(|s| s.stdin.as_deref().is_some_and(|x| x.contains("21686148"))).unwrap();
        assert_eq!(bios.stdin.as_deref(), Some("start=8192, size=2048, type=21686148-6449-6E6F-744E-656564454649\n"));
        assert_eq!(p.fstab, "UUID=u-root\t/\txfs\tdefaults\t0\t1\nUUID=u-swap\tnone\tswap\tsw\t0\t0\n");
        assert!(p.raid && p.disks == ["/dev/vda", "/dev/vdb"] && p.grub_devices == ["/dev/vda"], "{p:?}");
        assert_eq!(
            p.filesystems,
            [("/dev/vg0/root".to_string(), "u-root".to_string()), ("/dev/vg0/swap".into(), "u-swap".into())]
        );
    }

    #[test]
    fn what_cannot_be_built_is_refused_before_any_step() {
        let missing = json!({"version": 1, "config": [{"id": "sdz", "type": "disk", "serial": "NOPE"}]});
        assert_eq!(plan(&missing, &inv(), "/t").unwrap_err(), "disk sdz (serial NOPE) is not on this machine");
        let order = json!({"version": 1, "config": [{"id": "p1", "type": "partition", "number": 1, "device": "sda", "size": "1B"}]});
        assert!(plan(&order, &inv(), "/t").unwrap_err().contains("needs sda, which is not defined before it"));
        let fs = json!({"version": 1, "config": [
            {"id": "sda", "type": "disk", "serial": "S1"},
            {"id": "f", "type": "format", "fstype": "zfs", "volume": "sda"}
        ]});
        assert!(plan(&fs, &inv(), "/t").unwrap_err().contains("'zfs' is not supported"));
        assert!(plan(&json!({"version": 2, "config": []}), &inv(), "/t").is_err());
        assert_eq!(partition_device("nvme0n1", 2), "nvme0n1p2");
        assert_eq!(partition_device("/dev/md/md0", 1), "/dev/md/md0p1");
    }
}
