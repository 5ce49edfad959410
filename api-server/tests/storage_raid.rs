//! RAID, bcache and bcache cache sets (create, read, update, delete, with
//! MAAS's member rules), the bcache storage layout and its flat fallback,
//! the `…/partitions/{id}` and `volume-groups/{id}/` alias URLs, and release
//! clearing the filesystems made on an Allocated machine, on both databases.
//! Failures are 400/403/404/409 with a message, never 500.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::Value;

const GB: i64 = 1_000_000_000;
const RAID_OVERHEAD: i64 = 128 * 1024;

fn id(v: &Value) -> String {
    v["id"].as_i64().unwrap().to_string()
}

/// A Ready machine: sda (boot, flat layout) and four unused 10 GB disks.
async fn five_disks(s: &TestServer, admin: &ApiKey, name: &str) -> (String, Value) {
    let disks = vec![
        disk("sda", 100, false),
        disk("sdb", 10, true),
        disk("sdc", 10, true),
        disk("sdd", 12, true),
        disk("sde", 10, true),
    ];
    let sid = ready_machine_with_disks(s, admin, name, 2, 4096, disks).await;
    let m = machine(s, admin, &sid).await;
    (sid, m)
}

backend_tests!(raid_lifecycle, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let (sid, m) = five_disks(&s, &admin, "raid1").await;
    let (sdb, sdc, sdd, sde) =
        (id(device(&m, "sdb")), id(device(&m, "sdc")), id(device(&m, "sdd")), id(device(&m, "sde")));
    let raids = format!("nodes/{sid}/raids/");

    // raid-5 over three disks with a spare; the smallest member sets the size.
    let r = s
        .post(
            Some(&admin),
            &raids,
            &[
                ("level", "raid-5"),
                ("block_devices", &sdb),
                ("block_devices", &sdc),
                ("block_devices", &sdd),
                ("spare_devices", &sde),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let raid = r.json();
    assert_eq!(raid["name"], "md0");
    assert_eq!(raid["level"], "raid-5");
    assert_eq!(raid["system_id"], sid.as_str());
    assert_eq!(raid["size"], (10 * GB - RAID_OVERHEAD) * 2);
    assert_eq!(raid["human_size"], "20.0 GB");
    assert_eq!(raid["devices"].as_array().unwrap().len(), 3);
    assert_eq!(raid["spare_devices"][0]["name"], "sde");
    assert_eq!(raid["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(raid["virtual_device"]["name"], "md0");
    assert_eq!(raid["virtual_device"]["type"], "virtual");
    assert_eq!(raid["virtual_device"]["size"], raid["size"]);
    assert_eq!(raid["resource_uri"], format!("/MAAS/api/2.0/nodes/{sid}/raid/{}/", raid["id"]));
    let rid = id(&raid);
    let url = format!("nodes/{sid}/raid/{rid}/");
    assert_eq!(s.get(Some(&admin), &url).await.json(), raid);
    assert_eq!(s.get(Some(&admin), &raids).await.json(), serde_json::json!([raid.clone()]));

    // The machine shows the RAID, its device and the members' use.
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["raids"], serde_json::json!([{"system_id": sid, "id": raid["id"], "__incomplete__": true}]));
    assert_eq!(m["volume_groups"], serde_json::json!([]));
    assert_eq!(device(&m, "sdb")["used_for"], "Active raid-5 device for md0");
    assert_eq!(device(&m, "sde")["used_for"], "Spare raid-5 device for md0");
    assert_eq!(device(&m, "sdb")["filesystem"]["fstype"], "raid");
    let md0 = device(&m, "md0").clone();
    assert!(m["virtualblockdevice_set"].as_array().unwrap().iter().any(|d| d["name"] == "md0"));

    // Members are taken: not again in a RAID, nor formatted, nor in a VG.
    expect(
        &s.post(Some(&admin), &raids, &[("level", "raid-1"), ("block_devices", &sdb), ("block_devices", &sde)]).await,
        400,
        "Select a valid choice",
    );
    expect(
        &s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sdb}/?op=format"), &[("fstype", "ext4")]).await,
        400,
        "part of RAID md0",
    );
    expect(
        &s.post(Some(&admin), &format!("nodes/{sid}/volume-groups/"), &[("name", "vg0"), ("block_devices", &sdc)])
            .await,
        400,
        "Select a valid choice",
    );
    expect(
        &s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/blockdevices/{sdc}/"), &[]).await,
        400,
        "part of RAID md0",
    );
    expect(
        &s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sdb}/?op=unformat"), &[]).await,
        400,
        "part of RAID md0",
    );

    // The RAID is a block device: it can hold a volume group.
    let vg = s
        .post(Some(&admin), &format!("nodes/{sid}/volume-groups/"), &[("name", "vgraid"), ("block_devices", &id(&md0))])
        .await;
    assert_eq!(vg.status, 200, "{}", vg.body);
    expect(
        &s.call(Some(&admin), "DELETE", &url, &[]).await,
        400,
        "Cannot delete RAID md0 because its device is part of a volume group",
    );
    let vg_id = id(&vg.json());
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/volume-group/{vg_id}/"), &[]).await.status, 204);
    // Its size follows its members.
    expect(
        &s.call(Some(&admin), "PUT", &format!("nodes/{sid}/blockdevices/{}/", id(&md0)), &[("size", "1G")]).await,
        400,
        "size follows its members",
    );
    // ...or be formatted and mounted.
    let r =
        s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{}/?op=format", id(&md0)), &[("fstype", "xfs")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(Some(&admin), &format!("nodes/{sid}/blockdevices/{}/?op=mount", id(&md0)), &[("mount_point", "/data")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["used_for"], "xfs formatted filesystem mounted at /data");

    // An update that changes nothing is fine.
    let r = s.call(Some(&admin), "PUT", &url, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Update: rename, drop the spare, then a member below the minimum.
    let r = s.call(Some(&admin), "PUT", &url, &[("name", "md5"), ("remove_spare_devices", &sde)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "md5");
    assert_eq!(r.json()["virtual_device"]["name"], "md5");
    assert_eq!(r.json()["spare_devices"], serde_json::json!([]));
    expect(
        &s.call(Some(&admin), "PUT", &url, &[("remove_block_devices", &sdb)]).await,
        400,
        "RAID level 5 must have at least 3 raid devices",
    );
    expect(&s.call(Some(&admin), "PUT", &url, &[("remove_block_devices", &sde)]).await, 400, "Select a valid choice");
    // Adding the RAID's own device to itself is refused.
    let own = id(&r.json()["virtual_device"]);
    expect(&s.call(Some(&admin), "PUT", &url, &[("add_spare_devices", &own)]).await, 400, "Select a valid choice");
    let r = s.call(Some(&admin), "PUT", &url, &[("add_block_devices", &sde)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["size"], (10 * GB - RAID_OVERHEAD) * 3);
    assert_eq!(r.json()["virtual_device"]["size"], r.json()["size"]);
    // The failed update changed nothing.
    assert_eq!(device(&machine(&s, &admin, &sid).await, "sdb")["used_for"], "Active raid-5 device for md5");

    // Delete frees the members (and the device's filesystem goes with it).
    assert_eq!(s.call(Some(&admin), "DELETE", &url, &[]).await.status, 204);
    let m = machine(&s, &admin, &sid).await;
    for name in ["sdb", "sdc", "sdd", "sde"] {
        assert_eq!(device(&m, name)["used_for"], "Unused");
        assert_eq!(device(&m, name)["filesystem"], Value::Null);
    }
    assert_eq!(m["raids"], serde_json::json!([]));
    assert!(m["blockdevice_set"].as_array().unwrap().iter().all(|d| d["name"] != "md5"));
    expect(&s.get(Some(&admin), &url).await, 404, "No RAID matches");
    expect(&s.call(Some(&admin), "DELETE", &url, &[]).await, 404, "");

    // A RAID's block device DELETE deletes the RAID, as MAAS does.
    let r =
        s.post(Some(&admin), &raids, &[("level", "raid-0"), ("block_devices", &sdb), ("block_devices", &sdc)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "md0");
    assert_eq!(r.json()["size"], (10 * GB - RAID_OVERHEAD) * 2);
    let dev = id(&r.json()["virtual_device"]);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/blockdevices/{dev}/"), &[]).await.status, 204);
    assert_eq!(s.get(Some(&admin), &raids).await.json(), serde_json::json!([]));
});

backend_tests!(raid_levels_members_and_rules, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let (sid, m) = five_disks(&s, &admin, "raid2").await;
    let (other, m2) = five_disks(&s, &admin, "raid3").await;
    let (sda, sdb, sdc, sdd, sde) = (
        id(device(&m, "sda")),
        id(device(&m, "sdb")),
        id(device(&m, "sdc")),
        id(device(&m, "sdd")),
        id(device(&m, "sde")),
    );
    let raids = format!("nodes/{sid}/raids/");
    let post = |form: Vec<(&'static str, String)>| {
        let s = &s;
        let admin = &admin;
        let raids = raids.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post(Some(admin), &raids, &form).await
        }
    };
    let lvl = |l: &str| ("level", l.to_string());
    let bd = |v: &String| ("block_devices", v.clone());

    // Minimum member counts per level.
    expect(
        &post(vec![lvl("raid-0"), bd(&sdb)]).await,
        400,
        "RAID level 0 must have at least 2 raid devices and no spares.",
    );
    expect(&post(vec![lvl("raid-0"), bd(&sdb), bd(&sdc), ("spare_devices", sdd.clone())]).await, 400, "no spares");
    expect(&post(vec![lvl("raid-1"), bd(&sdb)]).await, 400, "RAID level 1 must have at least 2 raid devices");
    expect(&post(vec![lvl("raid-5"), bd(&sdb), bd(&sdc)]).await, 400, "RAID level 5 must have at least 3 raid devices");
    expect(
        &post(vec![lvl("raid-6"), bd(&sdb), bd(&sdc), bd(&sdd)]).await,
        400,
        "RAID level 6 must have at least 4 raid devices",
    );
    expect(
        &post(vec![lvl("raid-10"), bd(&sdb), bd(&sdc)]).await,
        400,
        "RAID level 10 must have at least 3 raid devices",
    );
    // Level: required, one of MAAS's.
    expect(&post(vec![bd(&sdb), bd(&sdc)]).await, 400, "This field is required.");
    expect(&post(vec![lvl("raid-4"), bd(&sdb), bd(&sdc)]).await, 400, "raid-4 is not one of the available choices");
    // Members: of this machine, unused, no partition table, listed once.
    let foreign = id(device(&m2, "sdb"));
    expect(&post(vec![lvl("raid-1"), bd(&sdb), bd(&foreign)]).await, 400, "Select a valid choice");
    expect(&post(vec![lvl("raid-1"), bd(&sdb), bd(&sda)]).await, 400, "Select a valid choice");
    expect(&post(vec![lvl("raid-1"), bd(&sdb), bd(&"nope".to_string())]).await, 400, "Select a valid choice");
    expect(&post(vec![lvl("raid-1"), bd(&sdb), bd(&sdb)]).await, 400, "only once");
    let root = id(&device(&m, "sda")["partitions"][0]);
    expect(&post(vec![lvl("raid-1"), bd(&sdb), ("partitions", root.clone())]).await, 400, "Select a valid choice");
    expect(&post(vec![lvl("raid-1"), bd(&sdb), bd(&sdc), ("name", "bad name".into())]).await, 400, "not a valid name");
    // Nothing was left behind by the refusals.
    assert_eq!(s.get(Some(&admin), &raids).await.json(), serde_json::json!([]));
    assert_eq!(device(&machine(&s, &admin, &sid).await, "sdb")["used_for"], "Unused");

    // raid-6 and raid-10 sizes; the smallest member counts (sdd is 12 GB).
    let r = post(vec![lvl("raid-6"), bd(&sdb), bd(&sdc), bd(&sdd), bd(&sde)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["size"], (10 * GB - RAID_OVERHEAD) * 2);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/raid/{}/", id(&r.json())), &[]).await.status, 204);
    let r = post(vec![lvl("raid-10"), bd(&sdb), bd(&sdc), bd(&sdd), ("name", "fast".into())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "fast");
    assert_eq!(r.json()["size"], (10 * GB - RAID_OVERHEAD) * 3 / 2);
    // Names are unique on the machine.
    let r2 = post(vec![lvl("raid-1"), bd(&sde), ("partitions", "0".into())]).await;
    expect(&r2, 400, "Select a valid choice");
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/raid/{}/", id(&r.json())), &[]).await.status, 204);

    // raid-1 over partitions: the partitions' size counts.
    let mut parts = Vec::new();
    for d in [&sdb, &sdc] {
        let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{d}/partitions/"), &[("size", "4G")]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        parts.push(r.json());
    }
    // A device with partitions cannot itself be a member.
    expect(&post(vec![lvl("raid-1"), bd(&sdb), bd(&sde)]).await, 400, "Select a valid choice");
    let r = post(vec![lvl("raid-1"), ("partitions", id(&parts[0])), ("partitions", id(&parts[1]))]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let psize = parts[0]["size"].as_i64().unwrap();
    assert_eq!(r.json()["size"], psize - RAID_OVERHEAD);
    assert_eq!(r.json()["devices"][0]["type"], "partition");
    let rid = id(&r.json());
    // Its partitions are protected.
    expect(
        &s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/blockdevices/{sdb}/partition/{}", id(&parts[0])), &[])
            .await,
        400,
        "part of RAID md0",
    );
    // A partition bigger than the free space is refused.
    expect(
        &s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sdb}/partitions/"), &[("size", "20G")]).await,
        400,
        "not enough free space",
    );

    // Permissions and states: a user cannot touch a Ready machine; 404 for
    // unknown machines and RAIDs; a deployed machine refuses with 409.
    expect(
        &s.post(Some(&alice), &raids, &[("level", "raid-1"), ("block_devices", &sdd), ("block_devices", &sde)]).await,
        403,
        "Ready machine",
    );
    expect(&s.get(Some(&admin), "nodes/nosuch/raids/").await, 404, "No Machine matches");
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/raid/999999/")).await, 404, "No RAID matches");
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/raid/x/")).await, 404, "No RAID matches");
    expect(&s.get(Some(&admin), &format!("nodes/{other}/raid/{rid}/")).await, 404, "No RAID matches");
    let r = s.post(Some(&admin), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect(
        &s.post(Some(&admin), &raids, &[("level", "raid-1"), ("block_devices", &sdd), ("block_devices", &sde)]).await,
        409,
        "Cannot create RAID because the machine is not Ready or Allocated.",
    );
    expect(
        &s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/raid/{rid}/"), &[]).await,
        409,
        "not Ready or Allocated",
    );
    expect(
        &s.call(Some(&admin), "PUT", &format!("nodes/{sid}/raid/{rid}/"), &[("name", "x")]).await,
        409,
        "not Ready or Allocated",
    );
});

backend_tests!(bcache_and_cache_sets, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let (sid, m) = five_disks(&s, &admin, "bc1").await;
    let (sdb, sdc, sdd) = (id(device(&m, "sdb")), id(device(&m, "sdc")), id(device(&m, "sdd")));
    let sets = format!("nodes/{sid}/bcache-cache-sets/");
    let bcaches = format!("nodes/{sid}/bcaches/");

    // Cache sets: exactly one of a device or a partition, unused.
    expect(&s.post(Some(&admin), &sets, &[]).await, 400, "Either cache_device or cache_partition must be specified.");
    expect(
        &s.post(Some(&admin), &sets, &[("cache_device", &sdb), ("cache_partition", "1")]).await,
        400,
        "Cannot set both",
    );
    expect(&s.post(Some(&admin), &sets, &[("cache_device", "999999")]).await, 400, "Select a valid choice");
    let r = s.post(Some(&admin), &sets, &[("cache_device", &sdb)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.json();
    assert_eq!(set["name"], "cache0");
    assert_eq!(set["cache_device"]["name"], "sdb");
    assert_eq!(set["resource_uri"], format!("/MAAS/api/2.0/nodes/{sid}/bcache-cache-set/{}/", set["id"]));
    let set_id = id(&set);
    let set_url = format!("nodes/{sid}/bcache-cache-set/{set_id}/");
    assert_eq!(s.get(Some(&admin), &set_url).await.json(), set);
    assert_eq!(s.get(Some(&admin), &sets).await.json(), serde_json::json!([set.clone()]));
    expect(&s.post(Some(&admin), &sets, &[("cache_device", &sdb)]).await, 400, "Select a valid choice");

    // bcache: a cache set, a cache mode and one backing device are required.
    expect(
        &s.post(Some(&admin), &bcaches, &[("backing_device", &sdc), ("cache_mode", "writeback")]).await,
        400,
        "cache_set",
    );
    expect(
        &s.post(
            Some(&admin),
            &bcaches,
            &[("cache_set", "999999"), ("backing_device", &sdc), ("cache_mode", "writeback")],
        )
        .await,
        400,
        "Select a valid choice",
    );
    expect(
        &s.post(Some(&admin), &bcaches, &[("cache_set", &set_id), ("backing_device", &sdc)]).await,
        400,
        "cache_mode",
    );
    expect(
        &s.post(Some(&admin), &bcaches, &[("cache_set", &set_id), ("backing_device", &sdc), ("cache_mode", "fast")])
            .await,
        400,
        "fast is not one of the available choices",
    );
    expect(
        &s.post(Some(&admin), &bcaches, &[("cache_set", &set_id), ("cache_mode", "writeback")]).await,
        400,
        "Either backing_device or backing_partition must be specified.",
    );
    expect(
        &s.post(
            Some(&admin),
            &bcaches,
            &[("cache_set", &set_id), ("backing_device", &sdb), ("cache_mode", "writeback")],
        )
        .await,
        400,
        "Select a valid choice",
    );
    let r = s
        .post(Some(&admin), &bcaches, &[("cache_set", "cache0"), ("backing_device", &sdc), ("cache_mode", "writeback")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bc = r.json();
    assert_eq!(bc["name"], "bcache0");
    assert_eq!(bc["cache_mode"], "writeback");
    assert_eq!(bc["cache_set"], set);
    assert_eq!(bc["backing_device"]["name"], "sdc");
    assert_eq!(bc["virtual_device"]["name"], "bcache0");
    assert_eq!(bc["virtual_device"]["size"], 10 * GB);
    assert_eq!(bc["resource_uri"], format!("/MAAS/api/2.0/nodes/{sid}/bcache/{}/", bc["id"]));
    let bc_url = format!("nodes/{sid}/bcache/{}/", id(&bc));
    assert_eq!(s.get(Some(&admin), &bc_url).await.json(), bc);
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(device(&m, "sdc")["used_for"], "Backing device for bcache0");
    assert_eq!(device(&m, "sdb")["used_for"], "Cache device for cache0");
    assert_eq!(m["bcaches"][0]["id"], bc["id"]);
    assert_eq!(m["cache_sets"][0]["id"], set["id"]);

    // The cache set in use cannot go.
    expect(
        &s.call(Some(&admin), "DELETE", &set_url, &[]).await,
        400,
        "Cannot delete cache set cache0 because bcache bcache0 uses it.",
    );
    // Update: mode, backing device (the size follows), bad values refused.
    let r = s.call(Some(&admin), "PUT", &bc_url, &[("cache_mode", "writearound"), ("backing_device", &sdd)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["cache_mode"], "writearound");
    assert_eq!(r.json()["backing_device"]["name"], "sdd");
    assert_eq!(r.json()["virtual_device"]["size"], 12 * GB);
    assert_eq!(device(&machine(&s, &admin, &sid).await, "sdc")["used_for"], "Unused");
    expect(&s.call(Some(&admin), "PUT", &bc_url, &[("cache_mode", "sometimes")]).await, 400, "Select a valid choice");
    expect(&s.call(Some(&admin), "PUT", &bc_url, &[("cache_set", "nope")]).await, 400, "Select a valid choice");
    // Cache set update: a new cache device.
    let r = s.call(Some(&admin), "PUT", &set_url, &[("cache_device", &sdc)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["cache_device"]["name"], "sdc");
    assert_eq!(device(&machine(&s, &admin, &sid).await, "sdb")["used_for"], "Unused");
    // The bcache device can be formatted like a disk.
    let dev = id(&r.json()["cache_device"]);
    let _ = dev;
    let bdev = id(&s.get(Some(&admin), &bc_url).await.json()["virtual_device"]);
    let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{bdev}/?op=format"), &[("fstype", "ext4")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Deletes: the bcache first, then its cache set; members come back.
    assert_eq!(s.call(Some(&admin), "DELETE", &bc_url, &[]).await.status, 204);
    expect(&s.get(Some(&admin), &bc_url).await, 404, "No Bcache matches");
    assert_eq!(s.call(Some(&admin), "DELETE", &set_url, &[]).await.status, 204);
    expect(&s.get(Some(&admin), &set_url).await, 404, "No CacheSet matches");
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(device(&m, "sdc")["used_for"], "Unused");
    assert_eq!(device(&m, "sdd")["used_for"], "Unused");
    assert_eq!(m["bcaches"], serde_json::json!([]));
    assert_eq!(m["cache_sets"], serde_json::json!([]));
});

backend_tests!(bcache_layout, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    // Boot on a rotary disk, two SSDs: the smaller SSD caches.
    let sid = ready_machine_with_disks(
        &s,
        &admin,
        "bcl",
        2,
        4096,
        vec![disk("sda", 500, true), disk("sdb", 240, false), disk("sdc", 120, false)],
    )
    .await;
    let layout = format!("machines/{sid}/?op=set_storage_layout");
    let r = s.post(Some(&admin), &layout, &[("storage_layout", "bcache")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert_eq!(m["bcaches"].as_array().unwrap().len(), 1);
    assert_eq!(m["cache_sets"].as_array().unwrap().len(), 1);
    let bc = s.get(Some(&admin), &format!("nodes/{sid}/bcaches/")).await.json()[0].clone();
    assert_eq!(bc["cache_mode"], "writethrough");
    assert_eq!(bc["backing_device"]["type"], "partition");
    assert_eq!(bc["backing_device"]["path"], "/dev/disk/by-dname/sda-part1");
    assert_eq!(bc["cache_set"]["cache_device"]["type"], "partition");
    assert_eq!(bc["cache_set"]["cache_device"]["device_id"], device(&m, "sdc")["id"]);
    assert_eq!(bc["virtual_device"]["filesystem"]["mount_point"], "/");
    assert_eq!(bc["virtual_device"]["filesystem"]["fstype"], "ext4");
    assert_eq!(device(&m, "sdb")["used_for"], "Unused");

    // Options: a chosen cache device, whole (no partition), another mode.
    let sdb = id(device(&m, "sdb"));
    let r = s
        .post(
            Some(&admin),
            &layout,
            &[
                ("storage_layout", "bcache"),
                ("cache_device", &sdb),
                ("cache_no_part", "true"),
                ("cache_mode", "writeback"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bc = s.get(Some(&admin), &format!("nodes/{sid}/bcaches/")).await.json()[0].clone();
    assert_eq!(bc["cache_mode"], "writeback");
    assert_eq!(bc["cache_set"]["cache_device"]["name"], "sdb");
    assert_eq!(bc["cache_set"]["cache_device"]["type"], "physical");
    // A cache partition of a given size.
    let r = s.post(Some(&admin), &layout, &[("storage_layout", "bcache"), ("cache_size", "50G")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bc = s.get(Some(&admin), &format!("nodes/{sid}/bcaches/")).await.json()[0].clone();
    assert_eq!(bc["cache_set"]["cache_device"]["size"], 50 * GB / (4 << 20) * (4 << 20));
    // Bad options are 400 and leave the layout alone.
    expect(
        &s.post(Some(&admin), &layout, &[("storage_layout", "bcache"), ("cache_mode", "never")]).await,
        400,
        "never is not one of the available choices",
    );
    let boot = id(device(&m, "sda"));
    expect(
        &s.post(Some(&admin), &layout, &[("storage_layout", "bcache"), ("cache_device", &boot)]).await,
        400,
        "Select a valid choice",
    );
    expect(
        &s.post(Some(&admin), &layout, &[("storage_layout", "bcache"), ("cache_size", "1M")]).await,
        400,
        "too small",
    );
    expect(
        &s.post(Some(&admin), &layout, &[("storage_layout", "bcache"), ("cache_size", "900G")]).await,
        400,
        "not enough free space",
    );
    assert_eq!(s.get(Some(&admin), &format!("nodes/{sid}/bcaches/")).await.json().as_array().unwrap().len(), 1);
    // Back to flat: the bcache and cache set go.
    let r = s.post(Some(&admin), &layout, &[("storage_layout", "flat")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["bcaches"], serde_json::json!([]));
    assert_eq!(r.json()["cache_sets"], serde_json::json!([]));

    // No SSD besides the boot disk: flat, as MAAS falls back.
    let one =
        ready_machine_with_disks(&s, &admin, "bcl1", 2, 4096, vec![disk("sda", 100, true), disk("sdb", 100, true)])
            .await;
    let r =
        s.post(Some(&admin), &format!("machines/{one}/?op=set_storage_layout"), &[("storage_layout", "bcache")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["bcaches"], serde_json::json!([]));
    assert_eq!(device(&r.json(), "sda")["partitions"][0]["filesystem"]["mount_point"], "/");

    // The bcache layout as the default after commissioning.
    let r =
        s.post(Some(&admin), "maas/?op=set_config", &[("name", "default_storage_layout"), ("value", "bcache")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = ready_machine_with_disks(&s, &admin, "bcl2", 2, 4096, vec![disk("sda", 100, true), disk("sdb", 50, false)])
        .await;
    assert_eq!(machine(&s, &admin, &d).await["bcaches"].as_array().unwrap().len(), 1);
});

backend_tests!(alias_urls, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let (sid, m) = five_disks(&s, &admin, "alias").await;
    let sda = device(&m, "sda");
    let root = &sda["partitions"][0];
    let (dev, part) = (id(sda), id(root));
    let singular = s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{dev}/partition/{part}")).await;
    let plural = s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{dev}/partitions/{part}")).await;
    assert_eq!(plural.status, 200, "{}", plural.body);
    assert_eq!(plural.json(), singular.json());
    // Ops work under the alias too.
    let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{dev}/partitions/{part}?op=unmount"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["filesystem"]["mount_point"], Value::Null);
    expect(
        &s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{dev}/partitions/999999")).await,
        404,
        "No Partition matches",
    );
    // The collection still answers.
    assert_eq!(s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/{dev}/partitions/")).await.status, 200);

    let vg = s
        .post(
            Some(&admin),
            &format!("nodes/{sid}/volume-groups/"),
            &[("name", "vg0"), ("block_devices", &id(device(&m, "sdb")))],
        )
        .await;
    assert_eq!(vg.status, 200, "{}", vg.body);
    let vg_id = id(&vg.json());
    let plural = s.get(Some(&admin), &format!("nodes/{sid}/volume-groups/{vg_id}/")).await;
    assert_eq!(plural.status, 200, "{}", plural.body);
    assert_eq!(plural.json(), vg.json());
    let r = s
        .post(Some(&admin), &format!("nodes/{sid}/volume-groups/{vg_id}/?op=create_logical_volume"), &[("name", "lv0")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/volume-groups/{vg_id}/"), &[]).await.status, 204);
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/volume-groups/{vg_id}/")).await, 404, "No VolumeGroup matches");
    // MAAS has no raids/{id} or bcaches/{id} items.
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/raids/1/")).await, 404, "Unknown API endpoint");
    // A RAID is not a volume group, under either URL.
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{sid}/raids/"),
            &[
                ("level", "raid-1"),
                ("block_devices", &id(device(&m, "sdc"))),
                ("block_devices", &id(device(&m, "sdd"))),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rid = id(&r.json());
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/volume-groups/{rid}/")).await, 404, "No VolumeGroup matches");
    assert_eq!(s.get(Some(&admin), &format!("nodes/{sid}/volume-groups/")).await.json(), serde_json::json!([]));
});

backend_tests!(release_clears_acquired_filesystems, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let (sid, m) = five_disks(&s, &admin, "rel").await;
    let (sdb, sdc) = (id(device(&m, "sdb")), id(device(&m, "sdc")));
    // While Ready, the admin formats sdc: part of the layout.
    let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sdc}/?op=format"), &[("fstype", "xfs")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Allocated to alice, who formats and mounts sdb.
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&alice), &format!("nodes/{sid}/blockdevices/{sdb}/?op=format"), &[("fstype", "ext4")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        s.post(Some(&alice), &format!("nodes/{sid}/blockdevices/{sdb}/?op=mount"), &[("mount_point", "/srv")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["used_for"], "ext4 formatted filesystem mounted at /srv");
    // Release: alice's filesystem goes, the layout stays.
    let r = s.post(Some(&alice), &format!("machines/{sid}/?op=release"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Ready");
    assert_eq!(device(&m, "sdb")["filesystem"], Value::Null);
    assert_eq!(device(&m, "sdb")["used_for"], "Unused");
    assert_eq!(device(&m, "sdc")["filesystem"]["fstype"], "xfs");
    assert_eq!(device(&m, "sda")["partitions"][0]["filesystem"]["mount_point"], "/");
});
