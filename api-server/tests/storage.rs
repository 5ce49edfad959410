//! Storage: block devices, partitions, filesystems, volume groups, the flat
//! and LVM layouts (applied after commissioning and on demand), MAAS's state
//! and permission rules, and allocation's `storage` constraint, on both
//! databases. Failures are 400/403/404/409 with a message, never 500.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::Value;

const MIB: i64 = 1024 * 1024;

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

fn align(bytes: i64) -> i64 {
    bytes / (4 * MIB) * (4 * MIB)
}

backend_tests!(default_flat_layout_after_commissioning, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sid =
        ready_machine_with_disks(&s, &admin, "flat", 4, 8192, vec![disk("sda", 100, false), disk("sdb", 200, true)])
            .await;
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Ready");
    assert!(m["storage"].is_f64(), "storage is a float: {}", m["storage"]);
    assert_eq!(m["storage"].as_f64().unwrap(), 300000.0);
    assert_eq!(m["physicalblockdevice_set"].as_array().unwrap().len(), 2);
    assert_eq!(m["blockdevice_set"].as_array().unwrap().len(), 2);
    assert_eq!(m["virtualblockdevice_set"], serde_json::json!([]));
    assert_eq!(m["volume_groups"], serde_json::json!([]));
    let boot = &m["boot_disk"];
    assert_eq!(boot["name"], "sda");
    assert_eq!(boot["type"], "physical");
    assert_eq!(boot["path"], "/dev/disk/by-dname/sda");
    assert_eq!(boot["id_path"], "/dev/disk/by-id/wwn-0x5000c500sda");
    assert_eq!(boot["model"], "QEMU HARDDISK");
    assert_eq!(boot["serial"], "QM-sda");
    assert_eq!(boot["size"], 100_000_000_000i64);
    assert_eq!(boot["block_size"], 512);
    assert_eq!(boot["tags"], serde_json::json!(["ssd"]));
    assert_eq!(boot["filesystem"], Value::Null);
    assert_eq!(boot["numa_node"], 0);
    assert_eq!(boot["storage_pool"], Value::Null);
    assert_eq!(boot["uuid"], Value::Null);
    // A BIOS machine's boot disk under 2 TiB gets MBR; one partition fills it.
    assert_eq!(boot["partition_table_type"], "MBR");
    assert_eq!(boot["used_for"], "MBR partitioned with 1 partition");
    let parts = boot["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 1);
    let root = &parts[0];
    assert_eq!(root["size"], align(100_000_000_000 - 5 * MIB));
    assert_eq!(root["path"], "/dev/disk/by-dname/sda-part1");
    assert_eq!(root["type"], "partition");
    assert_eq!(root["device_id"], boot["id"]);
    assert_eq!(root["bootable"], false);
    assert_eq!(root["used_for"], "ext4 formatted filesystem mounted at /");
    assert_eq!(root["filesystem"]["fstype"], "ext4");
    assert_eq!(root["filesystem"]["label"], "root");
    assert_eq!(root["filesystem"]["mount_point"], "/");
    assert_eq!(root["filesystem"]["mount_options"], Value::Null);
    assert_eq!(root["filesystem"]["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(root["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(
        root["resource_uri"],
        format!("/MAAS/api/2.0/nodes/{sid}/blockdevices/{}/partition/{}", id(boot), id(root))
    );
    assert_eq!(boot["used_size"].as_i64().unwrap() + boot["available_size"].as_i64().unwrap(), 100_000_000_000);
    assert!(boot["available_size"].as_i64().unwrap() < 4 * MIB);
    let sdb = device(&m, "sdb");
    assert_eq!(sdb["used_for"], "Unused");
    assert_eq!(sdb["partition_table_type"], Value::Null);
    assert_eq!(sdb["available_size"], 200_000_000_000i64);
    assert_eq!(sdb["used_size"], 0);
    assert_eq!(sdb["tags"], serde_json::json!(["rotary"]));
    assert_eq!(sdb["resource_uri"], format!("/MAAS/api/2.0/nodes/{sid}/blockdevices/{}/", id(sdb)));

    // The collection and item endpoints render the same shapes.
    let r = s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), m["blockdevice_set"]);
    let r = s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{}/", id(boot))).await;
    assert_eq!(&r.json(), boot);
    let r = s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{}/partitions/", id(boot))).await;
    assert_eq!(r.json(), boot["partitions"]);
    let r = s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{}/partition/{}", id(boot), id(root))).await;
    assert_eq!(&r.json(), root);
    // Lists of machines carry the same storage.
    let r = s.get(Some(&admin), "machines/").await;
    assert_eq!(r.json()[0]["boot_disk"], m["boot_disk"]);

    // Unknown ids and machines: 404 with MAAS's text.
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/999999/")).await, 404, "No BlockDevice matches");
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/sda/")).await, 404, "No BlockDevice matches");
    expect(&s.get(Some(&admin), "nodes/xxxxxx/blockdevices/").await, 404, "No Machine matches");
    expect(
        &s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{}/partition/{}", id(sdb), id(root))).await,
        404,
        "No Partition matches",
    );
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{}/partition/999999", id(boot))).await, 404, "");

    // A machine without disks renders empty storage and cannot take a layout.
    let bare = ready_machine(&s, &admin, "bare", 1, 1024).await;
    let m = machine(&s, &admin, &bare).await;
    assert_eq!(m["boot_disk"], Value::Null);
    assert_eq!(m["storage"].as_f64().unwrap(), 0.0);
    let r =
        s.post(Some(&admin), &format!("machines/{bare}/?op=set_storage_layout"), &[("storage_layout", "flat")]).await;
    expect(&r, 400, "Machine is missing a boot disk; no storage layout can be applied.");
});

backend_tests!(lvm_layout_and_options, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    // The configured default layout is applied after commissioning.
    let r = s.post(Some(&admin), "maas/?op=set_config", &[("name", "default_storage_layout"), ("value", "lvm")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid =
        ready_machine_with_disks(&s, &admin, "lvm", 4, 8192, vec![disk("sda", 50, false), disk("sdb", 80, true)]).await;
    let m = machine(&s, &admin, &sid).await;
    let sda = device(&m, "sda");
    assert_eq!(sda["used_for"], "MBR partitioned with 1 partition");
    let pv = &sda["partitions"][0];
    assert_eq!(pv["used_for"], "LVM volume for vgroot");
    assert_eq!(pv["filesystem"]["fstype"], "lvm-pv");
    assert_eq!(pv["filesystem"]["mount_point"], Value::Null);
    let lv = device(&m, "vgroot-lvroot");
    assert_eq!(lv["type"], "virtual");
    assert_eq!(lv["path"], "/dev/disk/by-dname/vgroot-lvroot");
    assert_eq!(lv["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(lv["model"], Value::Null);
    assert_eq!(lv["filesystem"]["mount_point"], "/");
    assert_eq!(lv["filesystem"]["label"], "root");
    assert_eq!(lv["used_for"], "ext4 formatted filesystem mounted at /");
    let pv_size = pv["size"].as_i64().unwrap();
    let vg_size = (pv_size / (4 * MIB) - 1) * 4 * MIB;
    assert_eq!(lv["size"], vg_size);
    assert_eq!(m["virtualblockdevice_set"].as_array().unwrap().len(), 1);
    assert_eq!(m["physicalblockdevice_set"].as_array().unwrap().len(), 2);
    assert_eq!(m["blockdevice_set"].as_array().unwrap().len(), 3);
    assert_eq!(m["storage"].as_f64().unwrap(), 130000.0, "virtual devices do not count");
    let stub = &m["volume_groups"][0];
    assert_eq!(stub["__incomplete__"], true);
    assert_eq!(stub["system_id"], sid.as_str());
    let vg_id = id(stub);

    let r = s.get(Some(&admin), &format!("nodes/{sid}/volume-groups/")).await;
    assert_eq!(r.status, 200);
    let vgs = r.json();
    assert_eq!(vgs.as_array().unwrap().len(), 1);
    let vg = &vgs[0];
    assert_eq!(vg["name"], "vgroot");
    assert_eq!(vg["size"], vg_size);
    assert_eq!(vg["used_size"], vg_size);
    assert_eq!(vg["available_size"], 0);
    assert_eq!(vg["human_available_size"], "0 bytes");
    assert!(vg["human_size"].as_str().unwrap().ends_with(" GB"));
    assert_eq!(vg["devices"][0]["id"], pv["id"]);
    assert_eq!(vg["devices"][0]["type"], "partition");
    assert_eq!(vg["logical_volumes"][0]["id"], lv["id"]);
    assert_eq!(vg["resource_uri"], format!("/MAAS/api/2.0/nodes/{sid}/volume-group/{vg_id}/"));
    let r = s.get(Some(&admin), &format!("nodes/{sid}/volume-group/{vg_id}/")).await;
    assert_eq!(&r.json(), vg);

    // Deleting the partition holding the volume group is refused.
    let r = s
        .call(Some(&admin), "DELETE", &format!("nodes/{sid}/blockdevices/{}/partition/{}", id(sda), id(pv)), &[])
        .await;
    expect(&r, 400, "Cannot delete partition because its part of a volume group.");
    let r = s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/blockdevices/{}/", id(sda)), &[]).await;
    expect(&r, 400, "part of a volume group");

    // set_storage_layout: lvm with sizes, root on the second disk.
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{sid}/?op=set_storage_layout"),
            &[
                ("storage_layout", "lvm"),
                ("root_size", "20G"),
                ("root_device", &id(device(&m, "sdb")).to_string()),
                ("vg_name", "vgdata"),
                ("lv_name", "root"),
                ("lv_size", "10G"),
                ("boot_size", "1G"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert_eq!(m["system_id"], sid.as_str());
    let sda = device(&m, "sda");
    assert_eq!(sda["partitions"].as_array().unwrap().len(), 1, "/boot on the boot disk");
    assert_eq!(sda["partitions"][0]["filesystem"]["mount_point"], "/boot");
    assert_eq!(sda["partitions"][0]["size"], align(1_000_000_000));
    let sdb = device(&m, "sdb");
    assert_eq!(sdb["partition_table_type"], "GPT");
    assert_eq!(sdb["partitions"][0]["size"], align(20_000_000_000));
    assert_eq!(sdb["partitions"][0]["used_for"], "LVM volume for vgdata");
    let lv = device(&m, "vgdata-root");
    assert_eq!(lv["size"], 10_000_000_000 / (4 * MIB) * 4 * MIB);
    assert_eq!(m["volume_groups"].as_array().unwrap().len(), 1);
    assert!(m["blockdevice_set"].as_array().unwrap().iter().all(|d| d["name"] != "vgroot-lvroot"));

    // Flat with /boot; blank clears everything.
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{sid}/?op=set_storage_layout"),
            &[("storage_layout", "flat"), ("boot_size", "1G"), ("root_size", "10G")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    let sda = device(&m, "sda");
    let parts = sda["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["filesystem"]["mount_point"], "/boot");
    assert_eq!(parts[1]["filesystem"]["mount_point"], "/");
    assert_eq!(parts[1]["path"], "/dev/disk/by-dname/sda-part2");
    assert_eq!(parts[1]["size"], align(10_000_000_000));
    assert_eq!(m["virtualblockdevice_set"], serde_json::json!([]));
    assert_eq!(m["volume_groups"], serde_json::json!([]));
    let r =
        s.post(Some(&admin), &format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "blank")]).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["blockdevice_set"].as_array().unwrap().iter().all(|d| d["used_for"] == "Unused"));
});

backend_tests!(layout_errors, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let sid = ready_machine_with_disks(&s, &admin, "m", 2, 2048, vec![disk("sda", 20, false)]).await;
    let op = format!("machines/{sid}/?op=set_storage_layout");
    expect(&s.post(Some(&admin), &op, &[]).await, 400, "storage_layout");
    expect(&s.post(Some(&admin), &op, &[("storage_layout", "zigzag")]).await, 400, "Select a valid choice");
    expect(&s.post(Some(&admin), &op, &[("storage_layout", "vmfs6")]).await, 400, "vmfs6");
    expect(
        &s.post(Some(&admin), &op, &[("storage_layout", "flat"), ("root_size", "100G")]).await,
        400,
        "Size is too large",
    );
    expect(
        &s.post(Some(&admin), &op, &[("storage_layout", "flat"), ("root_size", "1G")]).await,
        400,
        "Size is too small",
    );
    expect(&s.post(Some(&admin), &op, &[("storage_layout", "flat"), ("boot_size", "1M")]).await, 400, "boot_size");
    expect(&s.post(Some(&admin), &op, &[("storage_layout", "flat"), ("root_size", "huge")]).await, 400, "root_size");
    expect(
        &s.post(Some(&admin), &op, &[("storage_layout", "flat"), ("root_device", "424242")]).await,
        400,
        "root_device",
    );
    expect(&s.post(Some(&admin), &op, &[("storage_layout", "lvm"), ("lv_size", "500G")]).await, 400, "lv_size");
    expect(&s.post(Some(&alice), &op, &[("storage_layout", "flat")]).await, 403, "administrators only");
    // A failed layout leaves the previous configuration in place (one transaction).
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["boot_disk"]["partitions"][0]["filesystem"]["mount_point"], "/");
    // Percentages of the boot disk are accepted.
    let r = s.post(Some(&admin), &op, &[("storage_layout", "flat"), ("root_size", "50%")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["boot_disk"]["partitions"][0]["size"], align(10_000_000_000));

    // Only Ready machines take a layout; Deployed machines' storage is frozen.
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    complete_deployment(&s, &sid).await;
    expect(
        &s.post(Some(&admin), &op, &[("storage_layout", "flat")]).await,
        409,
        "Cannot change the storage layout on a machine that is not Ready.",
    );
    let m = machine(&s, &admin, &sid).await;
    let sda = id(device(&m, "sda"));
    let part = id(&device(&m, "sda")["partitions"][0]);
    let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sda}/?op=unformat"), &[]).await;
    expect(&r, 409, "Cannot unformat block device because the machine is not Ready or Allocated.");
    let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sda}/partition/{part}?op=unmount"), &[]).await;
    expect(&r, 409, "Cannot unmount partition because the machine is not Ready or Allocated.");
    let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sda}/partitions/"), &[]).await;
    expect(&r, 409, "not Ready or Allocated");
    let r = s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/blockdevices/{sda}/"), &[]).await;
    expect(&r, 409, "not Ready or Allocated");
});

backend_tests!(block_device_crud_and_ops, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let sid = ready_machine_with_disks(&s, &admin, "m", 2, 2048, vec![disk("sda", 20, false)]).await;
    let coll = format!("nodes/{sid}/blockdevices/");

    // Create: admin only; MAAS's required fields and the model/serial rule.
    expect(&s.post(Some(&alice), &coll, &[("name", "sdb"), ("size", "10G"), ("block_size", "512")]).await, 403, "");
    let r = s.post(Some(&admin), &coll, &[]).await;
    expect(&r, 400, "This field is required.");
    assert!(r.json().get("block_size").is_some());
    expect(
        &s.post(Some(&admin), &coll, &[("name", "sdb"), ("size", "10G"), ("block_size", "512")]).await,
        400,
        "serial/model are required if id_path is not provided.",
    );
    expect(
        &s.post(Some(&admin), &coll, &[("name", "sdb"), ("size", "1K"), ("block_size", "512"), ("id_path", "/dev/x")])
            .await,
        400,
        "greater than or equal to",
    );
    expect(
        &s.post(Some(&admin), &coll, &[("name", "sdb"), ("size", "9E"), ("block_size", "512"), ("id_path", "/dev/x")])
            .await,
        400,
        "less than or equal to",
    );
    expect(
        &s.post(Some(&admin), &coll, &[("name", "sdb"), ("size", "ten"), ("block_size", "512"), ("id_path", "/dev/x")])
            .await,
        400,
        "size",
    );
    let r = s
        .post(
            Some(&admin),
            &coll,
            &[("name", "sdb"), ("size", "10G"), ("block_size", "4096"), ("model", "M"), ("serial", "S1")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sdb = r.json();
    assert_eq!(sdb["size"], 10_000_000_000i64);
    assert_eq!(sdb["block_size"], 4096);
    assert_eq!(sdb["type"], "physical");
    assert_eq!(sdb["tags"], serde_json::json!([]));
    let sdb_id = id(&sdb);
    expect(
        &s.post(Some(&admin), &coll, &[("name", "sdb"), ("size", "10G"), ("block_size", "512"), ("id_path", "/dev/y")])
            .await,
        400,
        "already exists",
    );

    // Update, tags, boot disk.
    let item = format!("{coll}{sdb_id}/");
    let r = s.call(Some(&admin), "PUT", &item, &[("name", "sdc"), ("serial", "S2")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "sdc");
    assert_eq!(r.json()["serial"], "S2");
    let r = s.post(Some(&admin), &format!("{item}?op=add_tag"), &[("tag", "fast")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["fast"]));
    s.post(Some(&admin), &format!("{item}?op=add_tag"), &[("tag", "fast")]).await;
    let r = s.post(Some(&admin), &format!("{item}?op=add_tag"), &[("tag", "big")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["fast", "big"]));
    let r = s.post(Some(&admin), &format!("{item}?op=remove_tag"), &[("tag", "fast")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["big"]));
    expect(&s.post(Some(&admin), &format!("{item}?op=add_tag"), &[]).await, 400, "tag");
    let r = s.post(Some(&admin), &format!("{item}?op=set_boot_disk"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(machine(&s, &admin, &sid).await["boot_disk"]["id"], sdb_id);
    expect(&s.post(Some(&alice), &format!("{item}?op=set_boot_disk"), &[]).await, 403, "");

    // Filesystems on a whole disk.
    let fmt = format!("{item}?op=format");
    expect(
        &s.post(Some(&admin), &fmt, &[("fstype", "ntfs")]).await,
        400,
        "Select a valid choice. ntfs is not one of the available choices.",
    );
    expect(&s.post(Some(&admin), &fmt, &[]).await, 400, "fstype");
    expect(&s.post(Some(&admin), &fmt, &[("fstype", "ext4"), ("uuid", "nope")]).await, 400, "uuid");
    expect(
        &s.post(Some(&admin), &format!("{item}?op=mount"), &[("mount_point", "/srv")]).await,
        400,
        "Cannot mount an unformatted partition or block device.",
    );
    expect(
        &s.post(Some(&admin), &format!("{item}?op=unmount"), &[]).await,
        400,
        "Cannot unmount an unformatted block device.",
    );
    expect(&s.post(Some(&admin), &format!("{item}?op=unformat"), &[]).await, 400, "Block device is not formatted.");
    let r = s.post(Some(&admin), &fmt, &[("fstype", "xfs"), ("label", "data")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["filesystem"]["fstype"], "xfs");
    assert_eq!(v["filesystem"]["label"], "data");
    assert_eq!(v["used_for"], "Unmounted xfs formatted filesystem");
    assert_eq!(v["used_size"], v["size"]);
    assert_eq!(v["available_size"], 0);
    expect(&s.post(Some(&admin), &format!("{item}?op=mount"), &[]).await, 400, "mount_point");
    expect(&s.post(Some(&admin), &format!("{item}?op=mount"), &[("mount_point", "srv")]).await, 400, "absolute");
    let r = s
        .post(Some(&admin), &format!("{item}?op=mount"), &[("mount_point", "/srv"), ("mount_options", "noatime")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["used_for"], "xfs formatted filesystem mounted at /srv");
    assert_eq!(r.json()["filesystem"]["mount_options"], "noatime");
    expect(
        &s.post(Some(&admin), &format!("{item}?op=unformat"), &[]).await,
        400,
        "Filesystem is mounted and cannot be unformatted.",
    );
    let r = s.post(Some(&admin), &format!("{item}?op=unmount"), &[]).await;
    assert_eq!(r.json()["filesystem"]["mount_point"], Value::Null);
    expect(&s.post(Some(&admin), &format!("{item}?op=unmount"), &[]).await, 400, "Filesystem is already unmounted.");
    let r = s.post(Some(&admin), &format!("{item}?op=unformat"), &[]).await;
    assert_eq!(r.json()["filesystem"], Value::Null);
    // Swap always mounts at "none".
    s.post(Some(&admin), &fmt, &[("fstype", "swap")]).await;
    let r = s.post(Some(&admin), &format!("{item}?op=mount"), &[]).await;
    assert_eq!(r.json()["filesystem"]["mount_point"], "none");
    // A partitioned disk cannot be formatted whole.
    let sda = id(device(&machine(&s, &admin, &sid).await, "sda"));
    expect(
        &s.post(Some(&admin), &format!("{coll}{sda}/?op=format"), &[("fstype", "ext4")]).await,
        400,
        "Cannot format block device with partitions.",
    );
    // Unknown op and unknown device.
    expect(
        &s.post(Some(&admin), &format!("{coll}424242/?op=format"), &[("fstype", "ext4")]).await,
        404,
        "No BlockDevice matches",
    );
    expect(&s.post(Some(&admin), &format!("{item}?op=explode"), &[]).await, 400, "Unrecognised signature");

    // Delete: admin only for physical devices; 204.
    expect(&s.call(Some(&alice), "DELETE", &item, &[]).await, 403, "");
    let r = s.call(Some(&admin), "DELETE", &item, &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    expect(&s.get(Some(&admin), &item).await, 404, "No BlockDevice matches");
    // The boot disk falls back to the first disk.
    assert_eq!(machine(&s, &admin, &sid).await["boot_disk"]["name"], "sda");
});

backend_tests!(partitions, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sid =
        ready_machine_with_disks(&s, &admin, "m", 2, 2048, vec![disk("sda", 20, false), disk("sdb", 50, true)]).await;
    let m = machine(&s, &admin, &sid).await;
    let sdb = id(device(&m, "sdb"));
    let sda = id(device(&m, "sda"));
    let coll = format!("nodes/{sid}/blockdevices/{sdb}/partitions/");
    let r = s.get(Some(&admin), &coll).await;
    assert_eq!(r.json(), serde_json::json!([]));

    expect(&s.post(Some(&admin), &coll, &[("size", "100G")]).await, 400, "not enough free space");
    expect(&s.post(Some(&admin), &coll, &[("size", "1K")]).await, 400, "greater than or equal to");
    expect(&s.post(Some(&admin), &coll, &[("size", "x")]).await, 400, "size");
    // An absurd size is refused as too large before any arithmetic on it.
    expect(&s.post(Some(&admin), &coll, &[("size", "9223372036854775807")]).await, 400, "less than or equal to");
    let r = s.post(Some(&admin), &coll, &[("size", "10G"), ("bootable", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p1 = r.json();
    assert_eq!(p1["size"], align(10_000_000_000));
    assert_eq!(p1["bootable"], true);
    assert_eq!(p1["path"], "/dev/disk/by-dname/sdb-part1");
    assert_eq!(p1["used_for"], "Unused");
    // The rest of the disk.
    let r = s.post(Some(&admin), &coll, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p2 = r.json();
    assert_eq!(p2["path"], "/dev/disk/by-dname/sdb-part2");
    assert_eq!(p1["size"].as_i64().unwrap() + p2["size"].as_i64().unwrap(), align(50_000_000_000 - 5 * MIB));
    expect(&s.post(Some(&admin), &coll, &[]).await, 400, "not enough free space");
    let d = s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{sdb}/")).await.json();
    assert_eq!(d["partition_table_type"], "GPT", "non-boot disks get GPT");
    assert_eq!(d["used_for"], "GPT partitioned with 2 partitions");
    assert_eq!(d["available_size"].as_i64().unwrap() + d["used_size"].as_i64().unwrap(), 50_000_000_000);
    // A disk with partitions refuses whole-disk formatting; a formatted one refuses partitions.
    let p1_uri = format!("nodes/{sid}/blockdevices/{sdb}/partition/{}", id(&p1));
    // Partition filesystem ops.
    expect(
        &s.post(Some(&admin), &format!("{p1_uri}?op=mount"), &[("mount_point", "/a")]).await,
        400,
        "Cannot mount an unformatted partition or block device.",
    );
    expect(&s.post(Some(&admin), &format!("{p1_uri}?op=unformat"), &[]).await, 400, "Partition is not formatted.");
    expect(
        &s.post(Some(&admin), &format!("{p1_uri}?op=format"), &[("fstype", "zfs")]).await,
        400,
        "Select a valid choice",
    );
    let r = s.post(Some(&admin), &format!("{p1_uri}?op=format"), &[("fstype", "ext4"), ("label", "data")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["filesystem"]["fstype"], "ext4");
    let r = s.post(Some(&admin), &format!("{p1_uri}?op=mount"), &[("mount_point", "/data")]).await;
    assert_eq!(r.json()["used_for"], "ext4 formatted filesystem mounted at /data");
    expect(&s.post(Some(&admin), &format!("{p1_uri}?op=unformat"), &[]).await, 400, "Unmount the filesystem");
    let r = s.post(Some(&admin), &format!("{p1_uri}?op=unmount"), &[]).await;
    assert_eq!(r.status, 200);
    expect(&s.post(Some(&admin), &format!("{p1_uri}?op=unmount"), &[]).await, 400, "already unmounted");
    let r = s.post(Some(&admin), &format!("{p1_uri}?op=add_tag"), &[("tag", "x")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["x"]));
    let r = s.post(Some(&admin), &format!("{p1_uri}?op=remove_tag"), &[("tag", "x")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));
    // The partition must belong to the URL's device.
    expect(
        &s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{sda}/partition/{}", id(&p1))).await,
        404,
        "No Partition matches",
    );
    expect(
        &s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/424242/partitions/"), &[]).await,
        404,
        "No BlockDevice matches",
    );
    // Delete.
    let r = s.call(Some(&admin), "DELETE", &p1_uri, &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    expect(&s.get(Some(&admin), &p1_uri).await, 404, "");
    let r = s.get(Some(&admin), &coll).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["path"], "/dev/disk/by-dname/sdb-part1", "numbering follows the remaining partitions");
    // A formatted disk cannot be partitioned.
    let coll_c = format!("nodes/{sid}/blockdevices/");
    let r = s
        .post(
            Some(&admin),
            &coll_c,
            &[("name", "sdc"), ("size", "10G"), ("block_size", "512"), ("id_path", "/dev/sdc")],
        )
        .await;
    let sdc = id(&r.json());
    s.post(Some(&admin), &format!("{coll_c}{sdc}/?op=format"), &[("fstype", "ext4")]).await;
    expect(&s.post(Some(&admin), &format!("{coll_c}{sdc}/partitions/"), &[]).await, 400, "Cannot create a partition");
});

backend_tests!(volume_groups, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sid = ready_machine_with_disks(
        &s,
        &admin,
        "m",
        2,
        2048,
        vec![disk("sda", 20, false), disk("sdb", 40, true), disk("sdc", 40, true)],
    )
    .await;
    let m = machine(&s, &admin, &sid).await;
    let (sda, sdb, sdc) = (id(device(&m, "sda")), id(device(&m, "sdb")), id(device(&m, "sdc")));
    let coll = format!("nodes/{sid}/volume-groups/");
    expect(&s.post(Some(&admin), &coll, &[("block_devices", &sdb.to_string())]).await, 400, "name");
    expect(
        &s.post(Some(&admin), &coll, &[("name", "vg0")]).await,
        400,
        "At least one valid block device or partition is required.",
    );
    expect(
        &s.post(Some(&admin), &coll, &[("name", "vg0"), ("block_devices", &sda.to_string())]).await,
        400,
        "Select a valid choice",
    );
    expect(
        &s.post(Some(&admin), &coll, &[("name", "vg0"), ("partitions", "424242")]).await,
        400,
        "Select a valid choice",
    );
    let r = s.post(Some(&admin), &coll, &[("name", "vg0"), ("block_devices", &sdb.to_string())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let vg = r.json();
    let vg_size = (40_000_000_000 / (4 * MIB) - 1) * 4 * MIB;
    assert_eq!(vg["size"], vg_size);
    assert_eq!(vg["available_size"], vg_size);
    assert_eq!(vg["devices"][0]["id"], sdb);
    assert_eq!(vg["devices"][0]["used_for"], "LVM volume for vg0");
    assert_eq!(vg["logical_volumes"], serde_json::json!([]));
    expect(
        &s.post(Some(&admin), &coll, &[("name", "vg0"), ("block_devices", &sdc.to_string())]).await,
        400,
        "already exists",
    );
    let item = format!("nodes/{sid}/volume-group/{}/", id(&vg));

    // Logical volumes.
    let lv_op = format!("{item}?op=create_logical_volume");
    expect(&s.post(Some(&admin), &lv_op, &[("size", "1G")]).await, 400, "name");
    expect(&s.post(Some(&admin), &lv_op, &[("name", "big"), ("size", "100G")]).await, 400, "Size is too large");
    let r = s.post(Some(&admin), &lv_op, &[("name", "data"), ("size", "10G")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let lv = r.json();
    assert_eq!(lv["name"], "vg0-data");
    assert_eq!(lv["type"], "virtual");
    assert_eq!(lv["size"], 10_000_000_000 / (4 * MIB) * 4 * MIB);
    let r = s.post(Some(&admin), &lv_op, &[("name", "rest")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rest = r.json();
    expect(&s.post(Some(&admin), &lv_op, &[("name", "more")]).await, 400, "cannot hold any more logical volumes");
    let v = s.get(Some(&admin), &item).await.json();
    assert_eq!(v["available_size"], 0);
    assert_eq!(v["used_size"], vg_size);
    assert_eq!(v["logical_volumes"].as_array().unwrap().len(), 2);
    // A logical volume is a block device: format and mount it.
    let lv_uri = format!("nodes/{sid}/blockdevices/{}/", id(&lv));
    s.post(Some(&admin), &format!("{lv_uri}?op=format"), &[("fstype", "ext4")]).await;
    let r = s.post(Some(&admin), &format!("{lv_uri}?op=mount"), &[("mount_point", "/var/lib")]).await;
    assert_eq!(r.json()["used_for"], "ext4 formatted filesystem mounted at /var/lib");
    // Members of a volume group are protected.
    let sdb_uri = format!("nodes/{sid}/blockdevices/{sdb}/");
    expect(
        &s.post(Some(&admin), &format!("{sdb_uri}?op=format"), &[("fstype", "ext4")]).await,
        400,
        "part of a volume group",
    );
    expect(&s.post(Some(&admin), &format!("{sdb_uri}?op=unformat"), &[]).await, 400, "part of a volume group");
    expect(
        &s.post(Some(&admin), &format!("{sdb_uri}?op=mount"), &[("mount_point", "/x")]).await,
        400,
        "part of a volume group",
    );
    expect(&s.call(Some(&admin), "DELETE", &sdb_uri, &[]).await, 400, "part of a volume group");

    // Update: rename (logical volumes follow), add and remove devices.
    let r = s.call(Some(&admin), "PUT", &item, &[("name", "vgx"), ("add_block_devices", &sdc.to_string())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["name"], "vgx");
    assert_eq!(v["devices"].as_array().unwrap().len(), 2);
    assert!(v["logical_volumes"].as_array().unwrap().iter().any(|l| l["name"] == "vgx-data"));
    let r = s.post(Some(&admin), &lv_op, &[("name", "more"), ("size", "5G")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let more = r.json();
    expect(
        &s.call(Some(&admin), "PUT", &item, &[("remove_block_devices", &sdb.to_string())]).await,
        400,
        "need the space",
    );
    let r = s.post(Some(&admin), &format!("{item}?op=delete_logical_volume"), &[("id", &id(&more).to_string())]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    expect(
        &s.call(Some(&admin), "PUT", &item, &[("remove_block_devices", &sda.to_string())]).await,
        400,
        "Select a valid choice",
    );
    let r = s.post(Some(&admin), &format!("{item}?op=delete_logical_volume"), &[("id", &id(&rest).to_string())]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    expect(&s.post(Some(&admin), &format!("{item}?op=delete_logical_volume"), &[]).await, 400, "id");
    let r = s.call(Some(&admin), "PUT", &item, &[("remove_block_devices", &sdc.to_string())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["devices"].as_array().unwrap().len(), 1);
    // Deleting the group frees its devices and drops its logical volumes.
    let r = s.call(Some(&admin), "DELETE", &item, &[]).await;
    assert_eq!(r.status, 204);
    expect(&s.get(Some(&admin), &item).await, 404, "No VolumeGroup matches");
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(device(&m, "sdb")["used_for"], "Unused");
    assert_eq!(m["virtualblockdevice_set"], serde_json::json!([]));
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/volume-group/abc/")).await, 404, "No VolumeGroup matches");
});

backend_tests!(permissions_follow_owner_and_state, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let bob = s.user("bob", false).await;
    let sid =
        ready_machine_with_disks(&s, &admin, "m", 2, 2048, vec![disk("sda", 20, false), disk("sdb", 20, true)]).await;
    let sdb = id(device(&machine(&s, &admin, &sid).await, "sdb"));
    let fmt = format!("nodes/{sid}/blockdevices/{sdb}/?op=format");
    // Users may read a Ready machine's storage but not change it.
    assert_eq!(s.get(Some(&alice), &format!("nodes/{sid}/blockdevices/")).await.status, 200);
    expect(
        &s.post(Some(&alice), &fmt, &[("fstype", "ext4")]).await,
        403,
        "Cannot format block device because you don't have the permissions on a Ready machine.",
    );
    // The owner of an Allocated machine may.
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&alice), &fmt, &[("fstype", "ext4")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        s.post(Some(&alice), &format!("nodes/{sid}/blockdevices/{sdb}/?op=mount"), &[("mount_point", "/srv")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ...but not admin-only changes, and nobody else may.
    expect(&s.post(Some(&alice), &format!("nodes/{sid}/blockdevices/{sdb}/?op=set_boot_disk"), &[]).await, 403, "");
    let r = s.post(Some(&bob), &fmt, &[("fstype", "ext4")]).await;
    assert!(r.status == 403 || r.status == 409, "{}", r.status);
    expect(
        &s.post(Some(&alice), &format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "flat")]).await,
        403,
        "",
    );
    // Admins may change an Allocated machine's storage, but not its layout.
    expect(
        &s.post(Some(&admin), &format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "flat")]).await,
        409,
        "not Ready",
    );
    let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sdb}/?op=unmount"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Locked (deployed) machines refuse changes.
    let r = s.post(Some(&alice), &format!("machines/{sid}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    complete_deployment(&s, &sid).await;
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=lock"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect(&s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sdb}/?op=unformat"), &[]).await, 403, "locked");
});

backend_tests!(allocation_storage_constraint, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let small = ready_machine_with_disks(&s, &admin, "small", 1, 1024, vec![disk("sda", 50, false)]).await;
    let big = ready_machine_with_disks(
        &s,
        &admin,
        "big",
        8,
        16384,
        vec![disk("sda", 100, false), disk("sdb", 500, true), disk("sdc", 200, false)],
    )
    .await;
    let alloc = |form: Vec<(&'static str, String)>| {
        let s = &s;
        let alice = &alice;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post(Some(alice), "machines/?op=allocate", &form).await
        }
    };
    // The cheapest machine whose root disk is large enough.
    let r = alloc(vec![("storage", "root:10".into()), ("dry_run", "true".into())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["system_id"], small.as_str());
    assert_eq!(v["constraints_by_type"]["storage"]["root"], serde_json::json!([id(device(&v, "sda"))]));
    // Tagged `partition`, the root spec names the partition holding `/`.
    let r = alloc(vec![("storage", "root:10(partition)".into()), ("dry_run", "true".into())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let root_part = id(&device(&v, "sda")["partitions"][0]);
    assert_eq!(v["constraints_by_type"]["storage"]["root"], serde_json::json!([format!("partition:{root_part}")]));
    // Root by size and tag, volumes on distinct unused disks, smallest first.
    let r = alloc(vec![
        ("storage", "root:80(ssd),data:150,logs:100(ssd)".into()),
        ("dry_run", "true".into()),
        ("verbose", "true".into()),
    ])
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["system_id"], big.as_str());
    let by = &v["constraints_by_type"]["storage"];
    assert_eq!(by["root"], serde_json::json!([id(device(&v, "sda"))]));
    assert_eq!(by["logs"], serde_json::json!([id(device(&v, "sdc"))]));
    assert_eq!(by["data"], serde_json::json!([id(device(&v, "sdb"))]));
    let verbose = &v["constraints_by_type"]["verbose_storage"];
    assert_eq!(verbose.as_object().unwrap().len(), 1);
    // Every id exists in the machine's blockdevice_set (gomaasapi checks).
    for ids in by.as_object().unwrap().values() {
        for i in ids.as_array().unwrap() {
            assert!(v["blockdevice_set"].as_array().unwrap().iter().any(|d| d["id"] == *i));
        }
    }
    // Unlabelled specs must match but are not reported.
    let r = alloc(vec![("storage", "10,data:10".into()), ("dry_run", "true".into())]).await;
    assert_eq!(r.json()["system_id"], big.as_str());
    assert_eq!(r.json()["constraints_by_type"]["storage"].as_object().unwrap().len(), 1);
    // No match → 409 with MAAS's wording; malformed → 400.
    let r = alloc(vec![("storage", "root:1000".into())]).await;
    expect(&r, 409, "No available machine matches constraints");
    assert!(r.headers.get("retry-after").is_none());
    expect(&alloc(vec![("storage", "root:10(rotary)".into())]).await, 409, "");
    expect(&alloc(vec![("storage", "root:10,a:10,b:10,c:10".into())]).await, 409, "");
    expect(&alloc(vec![("storage", "root:".into())]).await, 400, "Malformed storage constraint");
    // Allocating for real; the mapping stays.
    let r = alloc(vec![("storage", "root:60,data:300".into())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status_name"], "Allocated");
    assert_eq!(v["constraints_by_type"]["storage"]["data"], serde_json::json!([id(device(&v, "sdb"))]));
    // Machine lists filter by storage too.
    let r = s.get(Some(&admin), "machines/?storage=root:60").await;
    let listed: Vec<String> =
        r.json().as_array().unwrap().iter().map(|m| m["system_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(listed, vec![big.clone()]);
    // Without a storage constraint constraints_by_type is {}.
    let r = alloc(vec![]).await;
    assert_eq!(r.json()["constraints_by_type"], serde_json::json!({}));
});
