//! The machine's storage model as curtin's storage configuration (version
//! 1), the shape MAAS's `CurtinStorageGenerator` renders into the install
//! document (`get_curtin_config`'s `storage`): what the installer
//! partitions, assembles, formats and mounts.
//!
//! Operations and their ids follow MAAS: a `disk` per physical device (id
//! its name; `model` + `serial` when both are known and unique, else its
//! `path`; `ptable` when partitioned, or `gpt`/`msdos` on the boot disk;
//! `grub_device` on the boot disk, or on every member disk of a RAID that
//! holds it), a 1 MiB `bios_grub` partition first on a GPT boot disk of an
//! amd64 BIOS machine, a `partition` per partition (`<disk>-part<N>`,
//! numbered as the API numbers them, the first at a 4 MiB offset, `boot`
//! flag when bootable, MBR's extended/logical scheme past four),
//! `lvm_volgroup`, `lvm_partition`, `raid`, `bcache`, a `format` per
//! filesystem (`<volume>_format`; ext4 without metadata_csum as MAAS does
//! for old releases is not applied) and a `mount` per mounted filesystem,
//! mounts last in path order. Every operation comes after the ones it
//! names (dependency order), so an installer can run them top to bottom.

use serde_json::{json, Map, Value};

use super::model::{
    Member, Storage, BCACHE, BCACHE_BACKING, BCACHE_CACHE, BIOS_GRUB_PARTITION_SIZE, CACHE_SET, LVM_PV, LVM_VG, MIB,
    PARTITION_TABLE_EXTRA_SPACE, PREP_PARTITION_SIZE, RAID_ACTIVE, RAID_SPARE,
};
use crate::db::storage::{BlockDevice, Filesystem, Partition};

/// MAAS's first-partition offset.
const INITIAL_PARTITION_OFFSET: i64 = 4 * MIB;

/// Filesystem types that are group memberships, not formats.
const MEMBERSHIPS: [&str; 5] = [LVM_PV, RAID_ACTIVE, RAID_SPARE, BCACHE_BACKING, BCACHE_CACHE];

/// `{"version": 1, "config": [...]}` for the node behind `s`.
pub fn storage_config(s: &Storage<'_>) -> Value {
    let mut ops: Vec<Value> = Vec::new();
    let grub = grub_devices(s);
    let shared = shared_model_serial(s);
    for d in s.physical() {
        disk_ops(s, d, grub.contains(&d.id), shared.contains(&d.id), &mut ops);
    }
    for g in s.all_groups() {
        match g.group_type.as_str() {
            LVM_VG => {
                let mut devices: Vec<String> = s.members(g).iter().map(|m| member_name(s, *m)).collect();
                devices.sort();
                ops.push(
                    json!({"id": g.name, "name": g.name, "type": "lvm_volgroup", "uuid": g.uuid, "devices": devices}),
                );
                for lv in s.logical_volumes(g) {
                    ops.push(json!({
                        "id": lv.name, "name": lv_short_name(&lv.name, &g.name), "type": "lvm_partition",
                        "volgroup": g.name, "size": format!("{}B", lv.size),
                    }));
                }
            }
            t if t.starts_with("raid-") => {
                let mut devices: Vec<String> =
                    s.members_with(g, |f| f == RAID_ACTIVE).iter().map(|m| member_name(s, *m)).collect();
                let mut spares: Vec<String> =
                    s.members_with(g, |f| f == RAID_SPARE).iter().map(|m| member_name(s, *m)).collect();
                devices.sort();
                spares.sort();
                let level: i64 = t.trim_start_matches("raid-").parse().unwrap_or(0);
                let mut op = json!({
                    "id": g.name, "name": g.name, "type": "raid", "raidlevel": level,
                    "devices": devices, "spare_devices": spares,
                });
                if let Some(t) = s.group_device(g).and_then(|d| d.partition_table_type.as_deref()) {
                    op["ptable"] = json!(ptable(t));
                }
                ops.push(op);
            }
            BCACHE => {
                let backing = s.members_with(g, |f| f == BCACHE_BACKING).first().map(|m| member_name(s, *m));
                let cache = g
                    .cache_set_id
                    .and_then(|id| s.group(id))
                    .and_then(|set| s.members(set).first().map(|m| member_name(s, *m)));
                let mut op = json!({
                    "id": g.name, "name": g.name, "type": "bcache",
                    "backing_device": backing, "cache_device": cache, "cache_mode": g.cache_mode,
                });
                if let Some(t) = s.group_device(g).and_then(|d| d.partition_table_type.as_deref()) {
                    op["ptable"] = json!(ptable(t));
                }
                ops.push(op);
            }
            // A cache set is a bcache's cache device, named by the bcache.
            CACHE_SET => {}
            _ => {}
        }
    }
    // Partitions of virtual devices (RAIDs, bcaches, logical volumes).
    for d in s.virtual_devices() {
        partition_ops(s, d, &mut ops);
    }
    let mut mounts: Vec<(&str, Value)> = Vec::new();
    for f in s.all_filesystems() {
        if MEMBERSHIPS.contains(&f.fstype.as_str()) {
            continue;
        }
        let volume = match (f.block_device_id, f.partition_id) {
            (Some(id), _) => s.device(id).map(|d| d.name.clone()),
            (_, Some(id)) => s.partition(id).map(|p| partition_name(s, p)),
            _ => None,
        };
        match volume {
            Some(v) => {
                ops.push(json!({
                    "id": format!("{v}_format"), "type": "format", "fstype": f.fstype,
                    "uuid": f.uuid, "label": f.label, "volume": v,
                }));
                if let Some(mp) = f.mount_point.as_deref() {
                    mounts.push((mp, mount_op(f, Some(&v))));
                }
            }
            // A special filesystem (tmpfs, ramfs): a mount with no device.
            None => {
                if let Some(mp) = f.mount_point.as_deref() {
                    mounts.push((mp, mount_op(f, None)));
                }
            }
        }
    }
    let mut config = order_by_dependency(ops);
    mounts.sort_by(|a, b| a.0.cmp(b.0));
    config.extend(mounts.into_iter().map(|(_, m)| m));
    json!({"version": 1, "config": config})
}

fn mount_op(f: &Filesystem, volume: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!("mount"));
    match volume {
        Some(v) => {
            m.insert("id".into(), json!(format!("{v}_mount")));
            m.insert("device".into(), json!(format!("{v}_format")));
        }
        None => {
            let mp = f.mount_point.as_deref().unwrap_or("");
            m.insert("id".into(), json!(format!("{}_mount", mp.trim_start_matches('/').replace('/', "-"))));
            m.insert("fstype".into(), json!(f.fstype));
            m.insert("spec".into(), json!(f.fstype));
        }
    }
    // Swap has no mount point to use (MAAS's `uses_mount_point`).
    if f.fstype != "swap" {
        if let Some(mp) = &f.mount_point {
            m.insert("path".into(), json!(mp));
        }
    }
    if let Some(o) = &f.mount_options {
        m.insert("options".into(), json!(o));
    }
    Value::Object(m)
}

/// A logical volume's own name (the API calls it `<vg>-<lv>`).
fn lv_short_name<'n>(full: &'n str, vg: &str) -> &'n str {
    full.strip_prefix(vg).and_then(|r| r.strip_prefix('-')).unwrap_or(full)
}

fn ptable(t: &str) -> &'static str {
    if t == "MBR" {
        "msdos"
    } else {
        "gpt"
    }
}

fn partition_name(s: &Storage<'_>, p: &Partition) -> String {
    let dev = s.device(p.block_device_id).map(|d| d.name.as_str()).unwrap_or("");
    format!("{dev}-part{}", s.partition_number(p))
}

fn member_name(s: &Storage<'_>, m: Member<'_>) -> String {
    match m {
        Member::Device(d) => d.name.clone(),
        Member::Partition(p) => partition_name(s, p),
    }
}

/// Where grub goes: the boot disk, or every disk under a RAID holding it.
fn grub_devices(s: &Storage<'_>) -> Vec<i64> {
    let Some(boot) = s.boot_disk() else { return Vec::new() };
    for g in s.groups_of_type("raid") {
        let disks: Vec<i64> = s
            .members(g)
            .iter()
            .map(|m| match m {
                Member::Device(d) => d.id,
                Member::Partition(p) => p.block_device_id,
            })
            .collect();
        if disks.contains(&boot.id) {
            return disks;
        }
    }
    vec![boot.id]
}

/// Disks whose model and serial another disk of the node shares: curtin
/// would not tell them apart, so they are named by path.
fn shared_model_serial(s: &Storage<'_>) -> Vec<i64> {
    let key = |d: &BlockDevice| (d.model.clone().unwrap_or_default(), d.serial.clone().unwrap_or_default());
    s.physical().filter(|d| s.physical().any(|o| o.id != d.id && key(o) == key(d))).map(|d| d.id).collect()
}

fn disk_ops(s: &Storage<'_>, d: &BlockDevice, grub: bool, shared: bool, ops: &mut Vec<Value>) {
    let mut op = json!({"id": d.name, "name": d.name, "type": "disk", "wipe": "superblock"});
    match (d.model.as_deref().filter(|m| !m.is_empty()), d.serial.as_deref().filter(|x| !x.is_empty())) {
        (Some(model), Some(serial)) if !shared => {
            op["model"] = json!(model);
            op["serial"] = json!(serial);
        }
        _ => op["path"] = json!(d.id_path.clone().unwrap_or_else(|| format!("/dev/{}", d.name))),
    }
    let arch = s.arch();
    let table = match d.partition_table_type.as_deref() {
        Some(t) => Some(ptable(t)),
        None if grub => Some(if s.uefi() || arch == "amd64" { "gpt" } else { "msdos" }),
        None => None,
    };
    if let Some(t) = table {
        op["ptable"] = json!(t);
    }
    let prep = arch == "ppc64el" && grub;
    if grub && !prep {
        op["grub_device"] = json!(true);
    }
    ops.push(op);
    if prep {
        ops.push(json!({
            "id": format!("{}-part1", d.name), "name": format!("{}-part1", d.name), "type": "partition",
            "number": 1, "device": d.name, "offset": format!("{INITIAL_PARTITION_OFFSET}B"),
            "size": format!("{PREP_PARTITION_SIZE}B"), "wipe": "zero", "flag": "prep", "grub_device": true,
        }));
    } else if table == Some("gpt") && arch == "amd64" && !s.uefi() && grub && s.reserved_first(d) {
        ops.push(json!({
            "id": format!("{}-part1", d.name), "name": format!("{}-part1", d.name), "type": "partition",
            "number": 1, "device": d.name, "offset": format!("{INITIAL_PARTITION_OFFSET}B"),
            "size": format!("{BIOS_GRUB_PARTITION_SIZE}B"), "wipe": "zero", "flag": "bios_grub",
        }));
    }
    partition_ops(s, d, ops);
}

fn partition_ops(s: &Storage<'_>, d: &BlockDevice, ops: &mut Vec<Value>) {
    let parts: Vec<&Partition> = s.partitions_of(d.id).collect();
    let mbr = d.partition_table_type.as_deref() == Some("MBR");
    let reserved = s.reserved_first(d);
    for (i, p) in parts.iter().enumerate() {
        let number = s.partition_number(p);
        let name = partition_name(s, p);
        let mut op = json!({
            "id": name, "name": name, "type": "partition", "number": number, "uuid": p.uuid,
            "size": format!("{}B", p.size), "device": d.name, "wipe": "superblock",
        });
        if i == 0 && !reserved {
            op["offset"] = json!(format!("{INITIAL_PARTITION_OFFSET}B"));
        }
        if p.bootable {
            op["flag"] = json!("boot");
        }
        if mbr && number == 5 {
            // The extended partition holding the logical ones: what is left
            // after the primaries, less curtin's 1 MiB per logical one.
            let before: i64 = parts[..i].iter().map(|q| q.size).sum();
            let logical = (parts.len() - i) as i64;
            let size = d.size - PARTITION_TABLE_EXTRA_SPACE - before - logical * MIB;
            ops.push(json!({
                "id": format!("{}-part4", d.name), "type": "partition", "number": 4, "device": d.name,
                "flag": "extended", "size": format!("{size}B"),
            }));
        }
        if mbr && number >= 5 {
            op["flag"] = json!("logical");
            op["size"] = json!(format!("{}B", p.size - MIB));
        }
        ops.push(op);
    }
}

/// The ids an operation needs created first.
fn needs(op: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["device", "volume", "volgroup", "backing_device", "cache_device"] {
        if let Some(v) = op.get(k).and_then(Value::as_str) {
            out.push(v.to_string());
        }
    }
    for k in ["devices", "spare_devices"] {
        if let Some(a) = op.get(k).and_then(Value::as_array) {
            out.extend(a.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    out
}

/// A stable topological order: each operation as early as it can be
/// without preceding what it needs (MAAS's `_order_config_dependency`).
fn order_by_dependency(mut pending: Vec<Value>) -> Vec<Value> {
    let ids: Vec<String> = pending.iter().filter_map(|o| o["id"].as_str().map(str::to_string)).collect();
    let mut done: Vec<String> = Vec::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|o| needs(o).iter().all(|n| done.contains(n) || !ids.contains(n)))
            // A cycle cannot come from the model; keep the rest as they are.
            .unwrap_or(0);
        let op = pending.remove(ready);
        if let Some(id) = op["id"].as_str() {
            done.push(id.to_string());
        }
        out.push(op);
    }
    out
}
