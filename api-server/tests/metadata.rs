//! The metadata API (`/MAAS/metadata/`, `maas-api.md` §11) over HTTP: every
//! route with its failures, the signal state machine, the commissioning
//! inventory, the status webhook, timeouts, and whole lifecycles driven by
//! simulated machines (virtual BMC + the real agent library).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use ironpool_agent::inventory;
use ironpool_common::inventory::COMMISSIONING_SCRIPT;

fn md_url(s: &TestServer, rel: &str) -> String {
    format!("{}/MAAS/metadata/{rel}", s.origin)
}

async fn md_get(s: &TestServer, who: Option<&ApiKey>, rel: &str) -> Resp {
    let mut rb = client().get(md_url(s, rel));
    if let Some(k) = who {
        rb = rb.header("Authorization", k.plaintext());
    }
    read(rb.send().await.unwrap()).await
}

async fn md_post(s: &TestServer, who: Option<&ApiKey>, rel: &str, form: reqwest::multipart::Form) -> Resp {
    let mut rb = client().post(md_url(s, rel)).multipart(form);
    if let Some(k) = who {
        rb = rb.header("Authorization", k.plaintext());
    }
    read(rb.send().await.unwrap()).await
}

fn signal_form(status: &str, files: &[(&str, Vec<u8>)], extra: &[(&str, &str)]) -> reqwest::multipart::Form {
    let mut f = reqwest::multipart::Form::new().text("status", status.to_string());
    for (k, v) in extra {
        f = f.text(k.to_string(), v.to_string());
    }
    for (name, data) in files {
        f = f.part(name.to_string(), reqwest::multipart::Part::bytes(data.clone()).file_name(name.to_string()));
    }
    f
}

async fn signal(s: &TestServer, who: &ApiKey, status: &str, files: &[(&str, Vec<u8>)]) -> Resp {
    md_post(s, Some(who), "latest/?op=signal", signal_form(status, files, &[])).await
}

async fn node_key(s: &TestServer, admin: &ApiKey, sid: &str) -> ApiKey {
    let r = s.get(Some(admin), &format!("machines/{sid}/?op=get_token")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    ApiKey {
        consumer: v["consumer_key"].as_str().unwrap().into(),
        token: v["token_key"].as_str().unwrap().into(),
        secret: v["token_secret"].as_str().unwrap().into(),
    }
}

/// A machine created by an admin with manual power: Commissioning.
async fn commissioning_machine(s: &TestServer, admin: &ApiKey, mac: &str) -> String {
    let r = s
        .post(
            Some(admin),
            "machines/",
            &[("architecture", "amd64/generic"), ("mac_addresses", mac), ("power_type", "manual")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status_name"], "Commissioning");
    r.json()["system_id"].as_str().unwrap().to_string()
}

async fn machine(s: &TestServer, admin: &ApiKey, sid: &str) -> serde_json::Value {
    s.get(Some(admin), &format!("machines/{sid}/")).await.json()
}

async fn wait_status(s: &TestServer, admin: &ApiKey, sid: &str, want: &str) -> serde_json::Value {
    for _ in 0..300 {
        let m = machine(s, admin, sid).await;
        if m["status_name"] == want {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = machine(s, admin, sid).await;
    panic!("{sid} never reached {want}: {} ({})", m["status_name"], m["status_message"]);
}

async fn script_result_count(s: &TestServer, sid: &str) -> usize {
    let sid = sid.to_string();
    s.state
        .db
        .run(move |c| {
            let n = ironpool_region::db::nodes::by_system_id(c, &sid)?.unwrap();
            // Results the machine reported: a run's scripts wait as
            // PENDING rows from its start, and end SKIPPED if never run.
            use ironpool_region::engine::results::status;
            let rs = ironpool_region::db::metadata::results_of(c, n.id)?;
            Ok(rs.iter().filter(|r| r.status != status::PENDING && r.status != status::SKIPPED).count())
        })
        .await
        .unwrap()
}

backend_tests!(routes_and_failures, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let sid = commissioning_machine(&s, &admin, "52:54:00:aa:00:01").await;
    let other = commissioning_machine(&s, &admin, "52:54:00:aa:00:02").await;

    // get_token: admins only; stable.
    assert_eq!(s.get(Some(&alice), &format!("machines/{sid}/?op=get_token")).await.status, 403);
    let key = node_key(&s, &admin, &sid).await;
    assert_eq!(node_key(&s, &admin, &sid).await.token, key.token);
    let other_key = node_key(&s, &admin, &other).await;

    // Versions.
    let r = md_get(&s, None, "").await;
    assert_eq!((r.status, r.body.as_str()), (200, "2012-03-01\nlatest\n"));
    let r = md_get(&s, Some(&key), "1999-01-01/meta-data/").await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Unknown metadata version"), "{}", r.body);
    let r = md_get(&s, Some(&key), "2012-03-01/meta-data/instance-id").await;
    assert_eq!(r.body, sid);
    // Leading duplicate slashes (cloud-init joins URLs that way).
    let r = read(
        client()
            .get(format!("{}/MAAS/metadata//latest/meta-data/instance-id", s.origin))
            .header("Authorization", key.plaintext())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, sid.as_str()));

    // Tokens do not cross: a user token is not a node, a node token not a user.
    let r = md_get(&s, Some(&alice), "latest/meta-data/").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, "Not authenticated as a known node.");
    assert_eq!(s.get(Some(&key), "machines/").await.status, 401);
    assert_eq!(s.get(Some(&key), "account/prefs/sshkeys/").await.status, 401);
    let bad = ApiKey { secret: "wrong".into(), ..key.clone() };
    assert_eq!(md_get(&s, Some(&bad), "latest/meta-data/").await.status, 401);

    // meta-data.
    let r = md_get(&s, Some(&key), "latest/meta-data/").await;
    assert_eq!(r.body, "instance-id\nlocal-hostname\nvendor-data\nx509\n");
    let host = machine(&s, &admin, &sid).await["fqdn"].as_str().unwrap().to_string();
    assert_eq!(md_get(&s, Some(&key), "latest/meta-data/local-hostname").await.body, host);
    assert_eq!(md_get(&s, Some(&key), "latest/meta-data/public-keys").await.body, "");
    let r = md_get(&s, Some(&key), "latest/meta-data/vendor-data").await;
    assert_eq!(r.content_type.as_deref(), Some("application/x-yaml"));
    assert!(r.body.contains("cloud-init"));
    assert_eq!(md_get(&s, Some(&key), "latest/meta-data/nonsense").await.status, 404);
    assert_eq!(md_get(&s, Some(&key), "latest/").await.body, "maas-commissioning-scripts\nmeta-data\n");
    assert_eq!(md_get(&s, Some(&key), "latest/user-data").await.status, 404);

    // Anonymous: the enlistment answers.
    assert_eq!(md_get(&s, None, "latest/meta-data/instance-id").await.body, "i-maas-enlistment");
    assert_eq!(md_get(&s, None, "enlist/latest/meta-data/local-hostname").await.body, "maas-enlisting-node");
    assert_eq!(md_get(&s, None, "enlist/2012-03-01/meta-data/public-keys").await.body, "");
    let r = md_get(&s, None, "latest/enlist-preseed/?op=get_enlist_preseed").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("metadata_url: \"http://") && !r.body.contains("token_key"), "{}", r.body);
    assert_eq!(md_get(&s, None, "latest/enlist-preseed/?op=bogus").await.status, 400);

    // get_preseed: only while booting an ephemeral environment, and only at
    // the boot configuration's URL (with the phase's boot secret) or to the
    // node itself (tests/security_tokens.rs has the refusals).
    assert_eq!(md_get(&s, None, &format!("latest/by-id/{sid}/?op=get_preseed")).await.status, 403);
    let r = md_get(&s, Some(&key), &format!("latest/by-id/{sid}/?op=get_preseed")).await;
    assert_eq!(r.status, 200);
    for part in [&key.consumer, &key.token, &key.secret] {
        assert!(r.body.contains(part.as_str()));
    }
    assert!(r.body.contains("phase: \"commissioning\""));
    // Unknown ids get the same answer as known ones (no oracle).
    assert_eq!(md_get(&s, None, "latest/by-id/nosuch/?op=get_preseed").await.status, 403);

    // signal: unknown status, malformed inventories (nothing half-written).
    let r = signal(&s, &key, "DANCING", &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let out = format!("{COMMISSIONING_SCRIPT}.out");
    let r = signal(&s, &key, "OK", &[(&out, b"{not json".to_vec())]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Malformed commissioning inventory"), "{}", r.body);
    let mut inv = inventory::fake(3);
    inv.resources.network.cards[0].ports[0].address = "52:54:00:aa:00:01".into();
    let mut broken = inv.clone();
    broken.resources.storage.disks[0].size = 0;
    let r = signal(&s, &key, "OK", &[(&out, serde_json::to_vec(&broken).unwrap())]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("disk 'sda'"), "{}", r.body);
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Commissioning");
    assert_eq!(m["cpu_count"], 0);
    assert_eq!(script_result_count(&s, &sid).await, 0);

    // Another machine's token cannot report for this one.
    let ev = serde_json::json!({"event_type": "finish", "origin": "cloud-init", "name": "modules-final", "description": "x", "result": "FAIL"});
    let r = read(
        client()
            .post(md_url(&s, &format!("status/{sid}")))
            .header("Authorization", other_key.plaintext())
            .json(&ev)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = read(
        client()
            .post(md_url(&s, &format!("status/{sid}")))
            .header("Authorization", key.plaintext())
            .json(&serde_json::json!({"event_type": "start"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("origin"), "{}", r.body);
    assert_eq!(machine(&s, &admin, &sid).await["status_name"], "Commissioning");

    // A good inventory: the model follows it and the machine is Ready.
    let r = md_post(
        &s,
        Some(&key),
        "latest/?op=signal",
        signal_form(
            "OK",
            &[(&out, serde_json::to_vec(&inv).unwrap())],
            &[("exit_status", "0"), ("name", COMMISSIONING_SCRIPT)],
        ),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Ready", "{}", m["status_message"]);
    assert_eq!(m["cpu_count"], inv.resources.cpu.total);
    assert_eq!(m["cpu_speed"], inv.resources.cpu.sockets[0].frequency);
    assert_eq!(m["memory"], inv.resources.memory.total / 1024 / 1024);
    assert_eq!(m["architecture"], "amd64/generic");
    let disks = s.get(Some(&admin), &format!("nodes/{sid}/blockdevices/")).await.json();
    assert_eq!(disks.as_array().unwrap().len(), inv.resources.storage.disks.len());
    assert_eq!(disks[0]["serial"], inv.resources.storage.disks[0].serial);
    assert_eq!(disks[0]["size"], inv.resources.storage.disks[0].size);
    let ifaces = s.get(Some(&admin), &format!("nodes/{sid}/interfaces/")).await.json();
    let names: Vec<&str> = ifaces.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"eno1"), "{names:?}");
    assert_eq!(ifaces.as_array().unwrap().len(), inv.ports().count());
    assert_eq!(script_result_count(&s, &sid).await, 1);

    // Commissioning is over: its token is revoked (an unknown key), so late
    // signals and reads get a 401 rather than MAAS's ignored 200.
    let r = signal(&s, &key, "OK", &[]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(md_get(&s, Some(&key), "latest/meta-data/").await.status, 401);
    // An allocated machine has no token at all (admins can still make one,
    // and the allocated machine refuses signals with it).
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let allocated = node_key(&s, &admin, &sid).await;
    assert_ne!(allocated.token, key.token);
    let r = signal(&s, &allocated, "OK", &[]).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("Machine status isn't valid (status is Allocated)"), "{}", r.body);
    assert_eq!(md_get(&s, None, &format!("latest/by-id/{sid}/?op=get_preseed")).await.status, 403);
    assert_eq!(md_get(&s, Some(&allocated), &format!("latest/by-id/{sid}/?op=get_preseed")).await.status, 403);

    // netboot_off / netboot_on.
    let post = |op: &str| {
        client().post(md_url(&s, &format!("latest/?op={op}"))).header("Authorization", allocated.plaintext()).send()
    };
    assert_eq!(post("netboot_off").await.unwrap().status(), 200);
    assert_eq!(machine(&s, &admin, &sid).await["netboot"], false);
    assert_eq!(post("netboot_on").await.unwrap().status(), 200);
    assert_eq!(machine(&s, &admin, &sid).await["netboot"], true);

    // A failing script fails commissioning with the error text.
    let r = md_post(
        &s,
        Some(&other_key),
        "latest/?op=signal",
        signal_form(
            "FAILED",
            &[("00-maas-01-cpuinfo.err", b"boom".to_vec())],
            &[("exit_status", "1"), ("error", "cpuinfo failed")],
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = machine(&s, &admin, &other).await;
    assert_eq!(m["status_name"], "Failed commissioning");
    assert_eq!(m["error_description"], "cpuinfo failed");
});

backend_tests!(timeouts_fail_stuck_machines, |b| async move {
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    let r = s.post(Some(&admin), "maas/?op=set_config", &[("name", "commissioning_timeout"), ("value", "7")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = commissioning_machine(&s, &admin, "52:54:00:bb:00:01").await;
    let key = node_key(&s, &admin, &sid).await;
    let deadline_of = |sid: String| {
        let db = s.state.db.clone();
        async move {
            db.run(move |c| Ok(ironpool_region::db::nodes::by_system_id(c, &sid)?.unwrap().status_expires_at.unwrap()))
                .await
                .unwrap()
        }
    };
    let d = deadline_of(sid.clone()).await;
    let mins = (d - chrono::Utc::now().naive_utc()).num_minutes();
    assert!((6..=7).contains(&mins), "commissioning_timeout applies: {mins}");

    // Progress pushes the deadline out; the job re-arms instead of failing.
    s.make_timeouts_due(None).await;
    assert_eq!(signal(&s, &key, "WORKING", &[]).await.status, 200);
    ironpool_region::engine::jobs::worker::run_due(&s.state.db, &s.state.power).await.unwrap();
    assert_eq!(machine(&s, &admin, &sid).await["status_name"], "Commissioning");

    // Stuck past the (stored) deadline: failed, with an event.
    s.make_timeouts_due(Some(&sid)).await;
    ironpool_region::engine::jobs::worker::run_due(&s.state.db, &s.state.power).await.unwrap();
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Failed commissioning");
    assert!(m["status_message"].as_str().unwrap().contains("timed out after 7 minutes"), "{}", m["status_message"]);
    // A late signal from the failed machine is ignored.
    assert_eq!(signal(&s, &key, "OK", &[]).await.status, 200);
});

async fn admin_user(s: &TestServer) -> ironpool_region::db::users::User {
    s.state.db.run(|c| ironpool_region::db::users::by_username(c, "admin")).await.unwrap().unwrap()
}

backend_tests!(simulated_lifecycle, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let key_line = ed25519_key(9, "alice@laptop");
    assert_eq!(s.post(Some(&alice), "account/prefs/sshkeys/", &[("key", &key_line)]).await.status, 201);
    let admin_row = admin_user(&s).await;
    let ids =
        ironpool_region::sim::ensure_machines(&s.state, &admin_row, &s.origin, 2, Duration::ZERO, None).await.unwrap();
    assert_eq!(ids.len(), 2);

    // Commissioning → Ready, with the fake inventory in the model.
    for (seed, sid) in ids.iter().enumerate() {
        let m = wait_status(&s, &admin, sid, "Ready").await;
        let inv = inventory::fake(seed as u64);
        assert_eq!(m["cpu_count"], inv.resources.cpu.total);
        assert_eq!(m["memory"], inv.resources.memory.total / 1024 / 1024);
        assert!(m["storage"].as_f64().unwrap() > 0.0);
        let macs: Vec<String> = m["interface_set"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["mac_address"].as_str().unwrap().to_string())
            .collect();
        for (_, p) in inv.ports() {
            assert!(macs.contains(&p.address), "{macs:?}");
        }
        assert_eq!(m["boot_disk"]["serial"], inv.resources.storage.disks[0].serial);
        assert_eq!(m["power_type"], "virtual");
    }
    // Idempotent: a second call starts nothing new.
    let again =
        ironpool_region::sim::ensure_machines(&s.state, &admin_row, &s.origin, 2, Duration::ZERO, None).await.unwrap();
    assert_eq!(again, ids);

    // Allocate + deploy with user data → Deployed; the installed OS got it.
    let sid = &ids[0];
    let user_data = b"#cloud-config\nruncmd: [echo hi]\n".to_vec();
    let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ud = base64::engine::general_purpose::STANDARD.encode(&user_data);
    let r = s
        .post(Some(&alice), &format!("machines/{sid}/?op=deploy"), &[("user_data", &ud), ("distro_series", "noble")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_status(&s, &admin, sid, "Deployed").await;
    let key = node_key(&s, &admin, sid).await;
    let r = md_get(&s, Some(&key), "latest/user-data").await;
    assert_eq!((r.status, r.body.as_bytes()), (200, user_data.as_slice()));
    assert_eq!(r.content_type.as_deref(), Some("application/octet-stream"));
    assert_eq!(md_get(&s, Some(&key), "latest/meta-data/public-keys").await.body, key_line);
    assert_eq!(md_get(&s, Some(&key), "latest/").await.body, "maas-commissioning-scripts\nmeta-data\nuser-data\n");
    let m = machine(&s, &admin, sid).await;
    assert_eq!(m["netboot"], false);
    assert_eq!(m["power_state"], "on");

    // Release → Ready (power off completes it); user data is gone.
    let r = s.post(Some(&alice), &format!("machines/{sid}/?op=release"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_status(&s, &admin, sid, "Ready").await;
    // The deploy's token died with the release.
    assert_eq!(md_get(&s, Some(&key), "latest/user-data").await.status, 401);

    // Deploy again, release with erase: the machine boots to erase, → Ready.
    let sid = &ids[1];
    let r = s.post(Some(&alice), &format!("machines/{sid}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_status(&s, &admin, sid, "Deployed").await;
    let r = s.post(Some(&alice), &format!("machines/{sid}/?op=release"), &[("erase", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_status(&s, &admin, sid, "Ready").await;
    // Powered off at the end.
    for _ in 0..100 {
        if machine(&s, &admin, sid).await["power_state"] == "off" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(machine(&s, &admin, sid).await["power_state"], "off");
});

backend_tests!(simulated_enlistment, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    // A machine the region has never heard of, switched on.
    let seed = 4242;
    ironpool_region::sim::start_machine(&s.state, &s.origin, seed, Duration::ZERO);
    s.state.power.virtual_bmcs.press(&ironpool_region::sim::bmc_address(seed), ironpool_common::power::PowerAction::On);
    let mac = inventory::fake_macs(seed, 1).remove(0);
    let mut sid = None;
    for _ in 0..300 {
        let r = s.get(Some(&admin), &format!("machines/?mac_address={mac}")).await.json();
        if let Some(m) = r.as_array().unwrap().first() {
            if m["status_name"] == "New" {
                sid = Some(m["system_id"].as_str().unwrap().to_string());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sid = sid.expect("the machine enlisted and commissioned back to New");
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["cpu_count"], inventory::fake(seed).resources.cpu.total);
    assert_eq!(m["power_type"], "virtual");
    // Accepting it commissions it again (powered on by its virtual BMC) → Ready.
    let r = s.post(Some(&admin), "machines/?op=accept", &[("machines", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_status(&s, &admin, &sid, "Ready").await;
});

/// Uploads a small raw disk image as `name` (a custom image).
async fn upload_image(s: &TestServer, admin: &ApiKey, name: &str, data: Vec<u8>) {
    let fields = [("name", name), ("architecture", "amd64/generic"), ("filetype", "ddraw")];
    let r = upload_boot_resource(s, admin, &fields, Some(data)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn the_installation_config_names_the_image_and_its_absence_is_clear() {
    use sha2::Digest;
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let one = ready_machine(&s, &admin, "inst-one", 2, 2048).await;
    let two = ready_machine(&s, &admin, "inst-two", 2, 2048).await;
    let ready_key = node_key(&s, &admin, &one).await;

    // Not deploying: nothing to install; anonymous: 401.
    assert_eq!(md_get(&s, Some(&ready_key), "curtin/latest/user-data").await.status, 409);
    assert_eq!(md_get(&s, None, "curtin/latest/user-data").await.status, 401);
    assert_eq!(md_get(&s, Some(&ready_key), "curtin/2019-01-01/user-data").await.status, 404);

    // Deploying the default series with no image uploaded: a 404 that says so.
    let r = s.post(Some(&admin), &format!("machines/{one}/?op=deploy"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The deploy is a new phase with its own token.
    assert_eq!(md_get(&s, Some(&ready_key), "curtin/latest/user-data").await.status, 401);
    let key_one = node_key(&s, &admin, &one).await;
    let r = md_get(&s, Some(&key_one), "curtin/latest/user-data").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("ubuntu/noble") && r.body.contains("boot-resources/"), "{}", r.body);
    // The installer reports that; the deployment fails with its words.
    let f = signal_form("FAILED", &[], &[("error", "No deployable image: ubuntu/noble")]);
    assert_eq!(md_post(&s, Some(&key_one), "latest/?op=signal", f).await.status, 200);
    let m = wait_status(&s, &admin, &one, "Failed deployment").await;
    assert_eq!(m["error_description"], "No deployable image: ubuntu/noble", "{m}");

    // An unknown series is refused up front, listing the custom images.
    let image: Vec<u8> = (0..65_536u32).map(|i| (i % 253) as u8).collect();
    upload_image(&s, &admin, "custom/tiny", image.clone()).await;
    let r = s.post(Some(&admin), &format!("machines/{two}/?op=deploy"), &[("distro_series", "nope")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("'custom/tiny'"), "{}", r.body);

    // A custom image: the config names it by URL, checksum and size.
    let r = s
        .post(Some(&admin), &format!("machines/{two}/?op=deploy"), &[("osystem", "custom"), ("distro_series", "tiny")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["osystem"].as_str(), r.json()["distro_series"].as_str()), (Some("custom"), Some("tiny")));
    let key_two = node_key(&s, &admin, &two).await;
    let r = md_get(&s, Some(&key_two), "curtin/latest/user-data").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg: ironpool_common::deploy::CurtinConfig = serde_json::from_str(&r.body).unwrap();
    let sha: String = sha2::Sha256::digest(&image).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(cfg.sources["00"].kind, "dd-raw");
    assert_eq!(cfg.ironpool.image.url, format!("{}/images/{sha}", s.origin));
    assert_eq!((cfg.ironpool.image.sha256.as_str(), cfg.ironpool.image.size), (sha.as_str(), 65_536));
    assert_eq!(cfg.ironpool.image.filetype, "root-dd.raw");
    assert_eq!(cfg.ironpool.hostname, "inst-two.maas");
    assert_eq!(cfg.ironpool.system_id, two);
    // The other curtin paths are the ordinary metadata tree.
    assert_eq!(md_get(&s, Some(&key_two), "curtin/latest/meta-data/instance-id").await.body, two);
    // Another machine's token reads its own state, not this one's.
    assert_eq!(md_get(&s, Some(&key_one), "curtin/latest/user-data").await.status, 409);
}
