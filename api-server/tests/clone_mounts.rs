//! Issue 20: `machines/?op=clone` (storage and interfaces, with MAAS's
//! matching rules and words) and `machines/{id}/?op=mount_special` /
//! `unmount_special` (tmpfs/ramfs, MAAS's states and form rules). Each test
//! runs on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::{json, Value};

backend_tests!(mount_and_unmount_special, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let m = ready_machine_with_disks(&s, &admin, "tmpbox", 4, 4096, vec![disk("sda", 100, false)]).await;
    let mount = format!("machines/{m}/?op=mount_special");
    let unmount = format!("machines/{m}/?op=unmount_special");

    let r = s
        .post(Some(&admin), &mount, &[("fstype", "tmpfs"), ("mount_point", "/srv/tmp"), ("mount_options", "size=1G")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sf = &r.json()["special_filesystems"];
    assert_eq!(sf.as_array().unwrap().len(), 1, "{sf}");
    assert_eq!(
        (&sf[0]["fstype"], &sf[0]["mount_point"], &sf[0]["mount_options"], &sf[0]["label"]),
        (&json!("tmpfs"), &json!("/srv/tmp"), &json!("size=1G"), &Value::Null)
    );
    assert_eq!(sf[0]["uuid"].as_str().unwrap().len(), 36);

    // MAAS's form and model words.
    let r = s.post(Some(&admin), &mount, &[("fstype", "ramfs"), ("mount_point", "/srv/tmp")]).await;
    assert_eq!((r.status, r.json()), (400, json!({"__all__": ["Another filesystem is already mounted at /srv/tmp."]})));
    let r = s.post(Some(&admin), &mount, &[("fstype", "ramfs"), ("mount_point", "/")]).await;
    assert_eq!(r.json(), json!({"__all__": ["Another filesystem is already mounted at /."]}), "the flat layout's root");
    let r = s.post(Some(&admin), &mount, &[("fstype", "ext4"), ("mount_point", "srv")]).await;
    assert_eq!(
        r.json(),
        json!({"fstype": ["Select a valid choice. ext4 is not one of the available choices."],
               "mount_point": ["Enter a valid value."]})
    );
    let r = s.post(Some(&admin), &mount, &[]).await;
    assert_eq!(r.json(), json!({"fstype": ["This field is required."], "mount_point": ["This field is required."]}));

    let r = s.post(Some(&admin), &unmount, &[("mount_point", "/nope")]).await;
    assert_eq!((r.status, r.json()), (400, json!({"mount_point": ["No special filesystem is mounted at this path."]})));

    // Mounted by the owner of an Allocated machine: gone at release; the
    // one mounted while Ready stays.
    let r = s.post(Some(&user), "machines/?op=allocate", &[("system_id", &m)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let other = s.user("other", false).await;
    let r = s.post(Some(&other), &mount, &[("fstype", "tmpfs"), ("mount_point", "/x")]).await;
    assert_eq!(r.status, 403, "another user's machine is not even visible: {}", r.body);
    let r = s.post(Some(&user), &mount, &[("fstype", "ramfs"), ("mount_point", "/scratch")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["special_filesystems"].as_array().unwrap().len(), 2);
    let r = s.post(Some(&user), &format!("machines/{m}/?op=release"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = machine(&s, &admin, &m).await;
    let points: Vec<&str> =
        after["special_filesystems"].as_array().unwrap().iter().map(|f| f["mount_point"].as_str().unwrap()).collect();
    assert_eq!(points, ["/srv/tmp"], "{}", after["status_name"]);

    let r = s.post(Some(&admin), &unmount, &[("mount_point", "/srv/tmp")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["special_filesystems"], json!([]));

    // Only Ready or Allocated machines.
    let busy = commissioning_machine(&s, &admin, "52:54:00:40:00:09", "busy").await;
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{busy}/?op=mount_special"),
            &[("fstype", "tmpfs"), ("mount_point", "/t")],
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, "Cannot mount the filesystem because the machine is not Ready or Allocated.")
    );
    let r = s.post(Some(&admin), &format!("machines/{busy}/?op=unmount_special"), &[("mount_point", "/t")]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, "Cannot unmount the filesystem because the machine is not Ready or Allocated.")
    );
});

/// A machine's storage as names and sizes, ids and UUIDs left out, so a
/// clone compares equal to its source.
fn storage_shape(m: &Value) -> Value {
    let devices: Vec<Value> = m["blockdevice_set"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let parts: Vec<Value> = d["partitions"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| json!({"size": p["size"], "fs": p["filesystem"]["fstype"], "mount": p["filesystem"]["mount_point"]}))
                        .collect()
                })
                .unwrap_or_default();
            json!({"name": d["name"], "type": d["type"], "size": d["size"], "table": d["partition_table_type"],
                   "fs": d["filesystem"]["fstype"], "mount": d["filesystem"]["mount_point"], "partitions": parts})
        })
        .collect();
    let groups: Vec<Value> =
        m["volume_groups"].as_array().unwrap().iter().map(|g| json!({"name": g["name"], "size": g["size"]})).collect();
    let special: Vec<Value> = m["special_filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!([f["fstype"], f["mount_point"], f["mount_options"]]))
        .collect();
    json!({"devices": devices, "groups": groups, "special": special})
}

backend_tests!(clone_storage_and_interfaces, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let two = || vec![disk("sda", 100, false), disk("sdb", 200, true)];
    let src = ready_machine_with_disks(&s, &admin, "src", 4, 4096, two()).await;
    let dst =
        ready_machine_with_disks(&s, &admin, "dst", 4, 4096, vec![disk("sda", 120, false), disk("sdb", 200, true)])
            .await;
    let small = ready_machine_with_disks(&s, &admin, "small", 4, 4096, vec![disk("sda", 50, false)]).await;
    // The source: an LVM layout, a tmpfs, and a static address.
    let r = s.post(Some(&admin), &format!("machines/{src}/?op=set_storage_layout"), &[("storage_layout", "lvm")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{src}/?op=mount_special"),
            &[("fstype", "tmpfs"), ("mount_point", "/run/x")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.41.0.0/24")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let subnet = r.json()["id"].as_i64().unwrap().to_string();
    let src_m = machine(&s, &admin, &src).await;
    let iface = src_m["interface_set"][0]["id"].as_i64().unwrap();
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{src}/interfaces/{iface}/?op=link_subnet"),
            &[("mode", "STATIC"), ("subnet", &subnet), ("ip_address", "10.41.0.10")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // MAAS's words: all errors at once, and nothing is cloned.
    let r = s
        .post(
            Some(&admin),
            "machines/?op=clone",
            &[("source", &src), ("destinations", &format!("{dst},{small},{src}"))],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({
            "destinations": [format!("Source machine {src} (src) cannot be a destination machine.")],
            "__all__": ["Either storage or interfaces must be true."],
        })
    );
    let r = s
        .post(
            Some(&admin),
            "machines/?op=clone",
            &[("source", &src), ("destinations", &format!("{dst},{small}")), ("storage", "true")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"destinations": [format!(
            "{small} (small) is invalid: destination boot disk(sda) is smaller than source boot disk(sda)"
        )]})
    );
    assert_ne!(storage_shape(&machine(&s, &admin, &dst).await), storage_shape(&machine(&s, &admin, &src).await));
    let r = s
        .post(Some(&admin), "machines/?op=clone", &[("source", "nope"), ("destinations", &dst), ("storage", "1")])
        .await;
    assert_eq!(r.json(), json!({"source": ["Select a valid choice. nope is not one of the available choices."]}));
    // Destinations are what the caller administers.
    let r = s
        .post(Some(&user), "machines/?op=clone", &[("source", &src), ("destinations", &dst), ("storage", "true")])
        .await;
    assert_eq!(
        r.json(),
        json!({"destinations": [format!("Machine 1 is invalid: Select a valid choice. {dst} is not one of the available choices.")]})
    );

    // Storage and interfaces: the destination gets the source's layout
    // (volume group, logical volume, partitions, filesystems, tmpfs) and
    // its link, with an address of its own in the same subnet.
    let r = s
        .post(
            Some(&admin),
            "machines/?op=clone",
            &[("source", &src), ("destinations", &dst), ("storage", "true"), ("interfaces", "true")],
        )
        .await;
    assert_eq!((r.status, r.content_type.as_deref()), (204, Some("text/plain")), "{}", r.body);
    let (src_m, dst_m) = (machine(&s, &admin, &src).await, machine(&s, &admin, &dst).await);
    let (mut want, got) = (storage_shape(&src_m), storage_shape(&dst_m));
    // The destination keeps its own (larger) boot disk.
    want["devices"][0]["size"] = got["devices"][0]["size"].clone();
    assert_eq!(got, want);
    assert_eq!(got["groups"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["special"], json!([["tmpfs", "/run/x", ""]]));
    let link = &dst_m["interface_set"][0]["links"][0];
    assert_eq!(
        (link["mode"].as_str(), link["subnet"]["cidr"].as_str()),
        (Some("static"), Some("10.41.0.0/24")),
        "{link}"
    );
    let ip = link["ip_address"].as_str().unwrap();
    assert!(ip.starts_with("10.41.0.") && ip != "10.41.0.10", "{ip}");

    // Interfaces are matched by name.
    let other = ready_machine_with_disks(&s, &admin, "other", 4, 4096, two()).await;
    let oi = machine(&s, &admin, &other).await["interface_set"][0]["id"].as_i64().unwrap();
    let r = s.call(Some(&admin), "PUT", &format!("nodes/{other}/interfaces/{oi}/"), &[("name", "ens9")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let src_if = src_m["interface_set"][0]["name"].as_str().unwrap().to_string();
    let r = s
        .post(Some(&admin), "machines/?op=clone", &[("source", &src), ("destinations", &other), ("interfaces", "true")])
        .await;
    assert_eq!(
        r.json(),
        json!({"destinations": [format!(
            "{other} (other) is invalid: destination node physical interfaces do not match the source nodes physical interfaces: {src_if}"
        )]})
    );
});
