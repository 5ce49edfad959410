//! Script sets and results over HTTP (issue 17): `nodes/{id}/results/`
//! (list, filters, read by id and current-*, download, suppressed, delete,
//! permissions), the `test` op through Testing to Ready or Failed testing,
//! `override_failed_testing`, and commission options (skip_storage keeps a
//! custom layout, skip_networking keeps interfaces, enable_ssh reaches the
//! preseed) — driven by raw metadata signals signed with the node's token.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use base64::Engine as _;
use common::*;
use ironpool_agent::inventory;
use ironpool_common::inventory::{Inventory, COMMISSIONING_SCRIPT};

fn md_url(s: &TestServer, rel: &str) -> String {
    format!("{}/MAAS/metadata/{rel}", s.origin)
}

async fn md_get(s: &TestServer, who: &ApiKey, rel: &str) -> Resp {
    read(client().get(md_url(s, rel)).header("Authorization", who.plaintext()).send().await.unwrap()).await
}

/// `signal` with `status`, extra fields and files (part name → content).
async fn signal(s: &TestServer, who: &ApiKey, status: &str, extra: &[(&str, &str)], files: &[(&str, &[u8])]) -> Resp {
    let mut f = reqwest::multipart::Form::new().text("status", status.to_string());
    for (k, v) in extra {
        f = f.text(k.to_string(), v.to_string());
    }
    for (name, data) in files {
        f = f.part(name.to_string(), reqwest::multipart::Part::bytes(data.to_vec()).file_name(name.to_string()));
    }
    let r = post_form_as(md_url(s, "latest/?op=signal"), who, f).await;
    assert_eq!(r.status, 200, "signal {status}: {}", r.body);
    r
}

/// The node's current metadata token (it changes with every phase).
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

/// Raw bytes of a GET (downloads may be binary).
async fn get_bytes(s: &TestServer, who: &ApiKey, rel: &str) -> (u16, String, Vec<u8>) {
    let r = client().get(s.api(rel)).header("Authorization", who.plaintext()).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

fn inventory_for(seed: u64, mac: &str) -> Vec<u8> {
    let mut inv = inventory::fake(seed);
    inv.resources.network.cards[0].ports[0].address = mac.into();
    serde_json::to_vec(&inv).unwrap()
}

/// A machine commissioned through real signals with the fake inventory
/// (disks, interfaces): Ready. Returns its system_id.
async fn commissioned(s: &TestServer, admin: &ApiKey, mac: &str, hostname: &str, seed: u64) -> String {
    let sid = commissioning_machine(s, admin, mac, hostname).await;
    let key = node_key(s, admin, &sid).await;
    let out = format!("{COMMISSIONING_SCRIPT}.out");
    signal(s, &key, "OK", &[], &[(&out, &inventory_for(seed, mac))]).await;
    let m = machine(s, admin, &sid).await;
    assert_eq!(m["status_name"], "Ready", "{}", m["status_message"]);
    sid
}

/// Boots the machine with this MAC the way the rack would (its boot action's
/// preseed) with the real agent, which really runs the scripts it is served.
async fn boot_real_agent(s: &TestServer, mac: &str, seed: u64, inv: Inventory) -> ironpool_agent::Outcome {
    let mac_s = mac.to_string();
    let action = s.state.db.run(move |c| ironpool_region::engine::metadata::boot_action(c, &mac_s)).await.unwrap();
    let ironpool_region::engine::metadata::BootAction::Ephemeral { preseed_path, .. } = action else {
        panic!("not an ephemeral boot: {action:?}")
    };
    let agent = ironpool_agent::Agent {
        details: ironpool_agent::lshw::fake(seed, &inv),
        inventory: inv,
        power_type: "manual".into(),
        power_parameters: serde_json::json!({}),
        step_delay: std::time::Duration::ZERO,
        writes_disks: false,
        scripts: ironpool_agent::scripts::Mode::Real,
    };
    let url = format!("{}/MAAS/metadata/{preseed_path}", s.origin);
    agent.boot(&ironpool_agent::client::http_client(), &url).await.unwrap()
}

fn names(set: &serde_json::Value) -> Vec<String> {
    set["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
}

backend_tests!(results_api, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let sid = commissioning_machine(&s, &admin, "52:54:00:5c:00:01", "res1").await;

    // The maas CLI builds its commands from describe/.
    let d = s.get(Some(&alice), "describe/").await.json();
    let described: Vec<&str> = d["handlers"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert!(described.contains(&"NodeScriptResultsHandler") && described.contains(&"NodeScriptResultHandler"));

    // Commissioning created its sets up front: the built-in script pending,
    // and the default tests.
    let m = machine(&s, &admin, &sid).await;
    assert!(m["current_commissioning_result_id"].is_i64(), "{m}");
    assert!(m["current_testing_result_id"].is_i64(), "{m}");
    assert_eq!(m["current_installation_result_id"], serde_json::Value::Null);
    assert_eq!(m["commissioning_status_name"], "Pending");
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/current-commissioning/")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"][0]["status_name"], "Pending");
    assert_eq!(r.json()["type_name"], "Commissioning");

    // The environment reports: progress, then one script with every output,
    // then the end with the inventory.
    let key = node_key(&s, &admin, &sid).await;
    signal(&s, &key, "WORKING", &[("name", "10-extra")], &[]).await;
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/current-commissioning/?filters=10-extra")).await;
    assert_eq!(r.json()["results"][0]["status_name"], "Running", "{}", r.body);
    assert_eq!(r.json()["status_name"], "Running");
    signal(
        &s,
        &key,
        "WORKING",
        &[("name", "10-extra"), ("exit_status", "0"), ("runtime", "0:00:03")],
        &[
            ("10-extra", b"combined out"),
            ("10-extra.out", b"standard out"),
            ("10-extra.err", b"standard err"),
            ("10-extra.yaml", b"status: passed"),
        ],
    )
    .await;
    let out = format!("{COMMISSIONING_SCRIPT}.out");
    signal(&s, &key, "OK", &[], &[(&out, &inventory_for(5, "52:54:00:5c:00:01"))]).await;
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Ready", "{}", m["status_message"]);
    assert_eq!(m["commissioning_status_name"], "Passed");
    assert_eq!(m["commissioning_status"], 2);
    // The default test never ran (no TESTING signal): skipped, so passing.
    assert_eq!(m["testing_status_name"], "Passed");
    let cid = m["current_commissioning_result_id"].as_i64().unwrap();

    // List: both sets, oldest first; `type` narrows; bad types are 400s.
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sets = r.json();
    assert_eq!(sets.as_array().unwrap().len(), 2, "{sets}");
    assert_eq!(sets[0]["id"], cid);
    assert_eq!(sets[0]["system_id"], sid.as_str());
    assert_eq!(sets[0]["resource_uri"], format!("/MAAS/api/2.0/nodes/{sid}/results/{cid}/"));
    // The set holds every commissioning script in the catalogue (the
    // built-ins from `scripts/`), plus the extra one the machine reported.
    let listed = names(&sets[0]);
    for want in ["10-extra", COMMISSIONING_SCRIPT, "maas-lshw", "maas-kernel-cmdline"] {
        assert!(listed.iter().any(|n| n == want), "{want} missing from {listed:?}");
    }
    assert!(sets[0]["results"][0].get("stdout").is_none(), "no output unless asked");
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/?type=testing")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["type"], 2);
    assert_eq!(names(&r.json()[0]), vec!["smartctl-validate"]);
    assert_eq!(r.json()[0]["results"][0]["status_name"], "Skipped");
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/?type=1")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 0);
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/results/?type=bogus")).await, 400, "Invalid result type name");
    expect(
        &s.get(Some(&admin), &format!("nodes/{sid}/results/?type=9")).await,
        400,
        "Invalid result type numeric value.",
    );
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/?hardware_type=storage")).await;
    assert_eq!(names(&r.json()[0]), Vec::<String>::new());
    assert_eq!(names(&r.json()[1]), vec!["smartctl-validate"]);
    expect(
        &s.get(Some(&admin), &format!("nodes/{sid}/results/?hardware_type=toaster")).await,
        400,
        "Hardware type must be node, cpu, memory, storage, or gpu",
    );

    // Read with output: base64 of each stream, MAAS's fields.
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/{cid}/?include_output=1&filters=10-extra")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let one = &r.json()["results"][0];
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(one["stdout"], b64("standard out"));
    assert_eq!(one["stderr"], b64("standard err"));
    assert_eq!(one["output"], b64("combined out"));
    assert_eq!(one["result"], b64("status: passed"));
    assert_eq!(one["exit_status"], 0);
    assert_eq!(one["status_name"], "Passed");
    assert_eq!(one["runtime"], "0:00:03");
    assert_eq!(one["suppressed"], false);
    assert!(one["started"].as_str().unwrap().ends_with("+0000"), "{one}");
    let rid = one["id"].as_i64().unwrap();
    // Filters take result ids too.
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/current-commissioning/?filters={rid}")).await;
    assert_eq!(names(&r.json()), vec!["10-extra"]);

    // Ids: current-* without a set, unknown words, other nodes' sets.
    expect(
        &s.get(Some(&admin), &format!("nodes/{sid}/results/current-installation/")).await,
        400,
        "No current installation script set exists for this node.",
    );
    expect(&s.get(Some(&admin), &format!("nodes/{sid}/results/latest/")).await, 400, "Unknown id \"latest\" must be");
    expect(
        &s.get(Some(&admin), &format!("nodes/{sid}/results/999999/")).await,
        404,
        "No ScriptSet matches the given query.",
    );
    expect(&s.get(Some(&admin), "nodes/nosuch/results/").await, 404, "No Node matches the given query.");

    // Download: one file raw; several as titled text; tar.xz; bad filetype.
    let dl = format!("nodes/{sid}/results/{cid}/?op=download");
    let (st, ct, body) = get_bytes(&s, &admin, &format!("{dl}&filters=10-extra")).await;
    assert_eq!((st, ct.as_str(), body.as_slice()), (200, "application/binary", b"combined out".as_slice()));
    let (_, _, body) = get_bytes(&s, &admin, &format!("{dl}&filters=10-extra&output=stderr")).await;
    assert_eq!(body, b"standard err");
    let (st, _, body) = get_bytes(&s, &admin, &format!("{dl}&filters=10-extra&output=all")).await;
    assert_eq!(st, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains(" 10-extra.out ") && text.contains("standard out\n"), "{text}");
    assert!(text.contains(" 10-extra.yaml ") && text.contains("status: passed\n"), "{text}");
    assert!(text.starts_with("---"), "{text}");
    let (st, ct, body) = get_bytes(&s, &admin, &format!("{dl}&filetype=tar.xz&output=stdout")).await;
    assert_eq!((st, ct.as_str()), (200, "application/x-tar"));
    let mut tar_bytes = Vec::new();
    lzma_rs::xz_decompress(&mut body.as_slice(), &mut tar_bytes).unwrap();
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        entries.push((name, data));
    }
    assert!(
        entries.contains(&(format!("res1-commissioning-{cid}/10-extra.out"), b"standard out".to_vec())),
        "{entries:?}"
    );
    expect(
        &s.get(Some(&admin), &format!("{dl}&filetype=zip")).await,
        400,
        "Unknown filetype \"zip\" must be txt or tar.xz",
    );

    // Suppressing: admins only; the set's status ignores suppressed results.
    let put = format!("nodes/{sid}/results/{cid}/");
    expect(&s.call(Some(&alice), "PUT", &put, &[("suppressed", "true")]).await, 403, "permission");
    let r = s.call(Some(&admin), "PUT", &put, &[("suppressed", "true"), ("filters", "10-extra")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rs = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0]["suppressed"], true);
    let r = s.get(Some(&admin), &put).await;
    let all = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(all.iter().filter(|x| x["suppressed"] == true).count(), 1, "only the filtered one");
    expect(&s.call(Some(&admin), "PUT", &put, &[("suppressed", "maybe")]).await, 400, "suppressed");

    // Permissions: anyone who may view the node reads; an owned machine is
    // hidden from others (403, as MAAS's view permission).
    assert_eq!(s.get(Some(&alice), &format!("nodes/{sid}/results/")).await.status, 200);
    let r = s.post(Some(&admin), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(Some(&alice), &format!("nodes/{sid}/results/")).await.status, 403);
    assert_eq!(s.get(Some(&alice), &format!("nodes/{sid}/results/{cid}/")).await.status, 403);
    assert_eq!(s.get(Some(&alice), &dl).await.status, 403);
    assert_eq!(s.get(None, &format!("nodes/{sid}/results/")).await.status, 401);

    // Devices have results too (none yet).
    let r = s.post(Some(&alice), "devices/", &[("mac_addresses", "52:54:00:5c:00:99"), ("hostname", "dev1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let dev = r.json()["system_id"].as_str().unwrap().to_string();
    let r = s.get(Some(&alice), &format!("nodes/{dev}/results/")).await;
    assert_eq!((r.status, r.json()), (200, serde_json::json!([])));

    // Delete: admins only; the set and its results go.
    expect(&s.call(Some(&alice), "DELETE", &put, &[]).await, 403, "permission");
    assert_eq!(s.call(Some(&admin), "DELETE", &put, &[]).await.status, 204);
    assert_eq!(s.get(Some(&admin), &put).await.status, 404);
    assert_eq!(s.call(Some(&admin), "DELETE", &put, &[]).await.status, 404);
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
});

backend_tests!(test_op, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let key_line = ed25519_key(7, "admin@laptop");
    assert_eq!(s.post(Some(&admin), "account/prefs/sshkeys/", &[("key", &key_line)]).await.status, 201);
    let sid = commissioned(&s, &admin, "52:54:00:5c:01:01", "tst1", 11).await;
    let op = format!("machines/{sid}/?op=test");

    // Refusals: non-admins, unknown scripts, wrong states.
    assert_eq!(s.post(Some(&alice), &op, &[]).await.status, 403);
    let r = s.post(Some(&admin), &op, &[("testing_scripts", "smartctl-validate,nosuch")]).await;
    expect(&r, 400, "Select a valid choice. nosuch is not one of the available choices.");
    assert!(r.json()["testing_scripts"].is_array(), "{}", r.body);
    let busy = commissioning_machine(&s, &admin, "52:54:00:5c:01:02", "busy").await;
    expect(
        &s.post(Some(&admin), &format!("machines/{busy}/?op=test"), &[]).await,
        400,
        "Test is not available because of the current state of the node.",
    );

    // test → Testing with a pending set of the chosen scripts (tags too);
    // the preseed keeps SSH on with the admin's key.
    let r = s
        .post(
            Some(&admin),
            &op,
            &[("testing_scripts", "memory,smartctl-validate"), ("enable_ssh", "1"), ("storage", "sda")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status_name"], "Testing");
    let tid = r.json()["current_testing_result_id"].as_i64().unwrap();
    assert_eq!(r.json()["testing_status_name"], "Pending");
    let set = s.get(Some(&admin), &format!("nodes/{sid}/results/current-testing/")).await.json();
    assert_eq!(set["id"], tid);
    assert_eq!(names(&set), vec!["memtester", "smartctl-validate"]);
    assert_eq!(set["results"][1]["parameters"]["storage"]["value"], "sda");
    let key = node_key(&s, &admin, &sid).await;
    let pre = md_get(&s, &key, &format!("latest/by-id/{sid}/?op=get_preseed")).await;
    assert_eq!(pre.status, 200, "{}", pre.body);
    assert!(pre.body.contains("  enable_ssh: true\n"), "{}", pre.body);
    assert!(pre.body.contains(key_line.trim()), "{}", pre.body);

    // Both pass → back to Ready, with the results.
    signal(&s, &key, "WORKING", &[("name", "memtester"), ("exit_status", "0")], &[("memtester.out", b"ok")]).await;
    signal(&s, &key, "OK", &[("name", "smartctl-validate"), ("exit_status", "0")], &[("smartctl-validate.out", b"ok")])
        .await;
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Ready", "{}", m["status_message"]);
    assert_eq!(m["testing_status_name"], "Passed");
    assert_eq!(m["memory_test_status_name"], "Passed");
    assert_eq!(m["storage_test_status_name"], "Passed");
    assert_eq!(m["cpu_test_status_name"], "Unknown");

    // A failing script → Failed testing, naming it; the other is aborted.
    let r = s.post(Some(&admin), &op, &[("testing_scripts", "memtester,stress-ng-cpu-short")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.json()["current_testing_result_id"].as_i64().unwrap(), tid, "a new set per run");
    let key = node_key(&s, &admin, &sid).await;
    signal(&s, &key, "FAILED", &[("name", "memtester"), ("exit_status", "1")], &[("memtester.err", b"bad dimm")]).await;
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Failed testing");
    assert_eq!(m["status_message"], "Failed testing - memtester failed");
    assert_eq!(m["error_description"], "memtester failed");
    // MAAS's precedence puts an aborted script before a failed one.
    assert_eq!(m["testing_status_name"], "Aborted");
    assert_eq!(m["memory_test_status_name"], "Failed");
    let set = s.get(Some(&admin), &format!("nodes/{sid}/results/current-testing/")).await.json();
    let st: Vec<&str> = set["results"].as_array().unwrap().iter().map(|r| r["status_name"].as_str().unwrap()).collect();
    assert_eq!(st, vec!["Failed", "Aborted"]);
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={sid}")).await.json();
    let descs: Vec<String> =
        ev["events"].as_array().unwrap().iter().map(|e| format!("{}: {}", e["type"], e["description"])).collect();
    assert!(descs.iter().any(|d| d.contains("memtester failed")), "{descs:?}");
    // Older sets stay: the tests chosen with commissioning and both runs.
    assert_eq!(
        s.get(Some(&admin), &format!("nodes/{sid}/results/?type=testing")).await.json().as_array().unwrap().len(),
        3
    );

    // override_failed_testing: admins only; back to Ready; only from Failed testing.
    let ov = format!("machines/{sid}/?op=override_failed_testing");
    assert_eq!(s.post(Some(&alice), &ov, &[]).await.status, 403);
    let r = s.post(Some(&admin), &ov, &[("comment", "known flaky")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status_name"], "Ready");
    assert_eq!(r.json()["error_description"], "");
    expect(
        &s.post(Some(&admin), &ov, &[]).await,
        409,
        "Unable to override node status. Node is not in 'Failed testing' status.",
    );

    // Testing a deployed machine: destructive tests refused; passing tests
    // return it to Deployed.
    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[
                ("architecture", "amd64/generic"),
                ("mac_addresses", "52:54:00:5c:01:09"),
                ("hostname", "running"),
                ("power_type", "manual"),
                ("deployed", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status_name"], "Deployed");
    let dep = r.json()["system_id"].as_str().unwrap().to_string();
    let dop = format!("machines/{dep}/?op=test");
    expect(
        &s.post(Some(&admin), &dop, &[("testing_scripts", "badblocks-destructive")]).await,
        400,
        "Destructive tests may only be run on undeployed machines.",
    );
    let r = s.post(Some(&admin), &dop, &[("testing_scripts", "cpu")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = node_key(&s, &admin, &dep).await;
    signal(
        &s,
        &key,
        "OK",
        &[("name", "stress-ng-cpu-short"), ("exit_status", "0")],
        &[("stress-ng-cpu-short.out", b"ok")],
    )
    .await;
    let m = machine(&s, &admin, &dep).await;
    assert_eq!(m["status_name"], "Deployed", "{}", m["status_message"]);
    assert_eq!(m["cpu_test_status_name"], "Passed");
});

backend_tests!(commission_options, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let mac = "52:54:00:5c:02:01";
    let sid = commissioned(&s, &admin, mac, "opt1", 21).await;
    let out = format!("{COMMISSIONING_SCRIPT}.out");
    let commission = format!("machines/{sid}/?op=commission");

    // Bad input is refused before anything changes.
    expect(&s.post(Some(&admin), &commission, &[("skip_storage", "perhaps")]).await, 400, "skip_storage");
    expect(
        &s.post(Some(&admin), &commission, &[("commissioning_scripts", "nosuch")]).await,
        400,
        "Select a valid choice. nosuch is not one of the available choices.",
    );
    assert_eq!(machine(&s, &admin, &sid).await["status_name"], "Ready");

    // A custom layout (LVM) instead of the default flat one.
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "lvm")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let vgs = |m: &serde_json::Value| m["volume_groups"].as_array().unwrap().len();
    assert_eq!(vgs(&machine(&s, &admin, &sid).await), 1);

    // skip_storage + skip_networking: the layout and the interface names
    // survive a recommission whose inventory renames the interface.
    let r = s
        .post(
            Some(&admin),
            &commission,
            &[
                ("skip_storage", "true"),
                ("skip_networking", "true"),
                ("skip_bmc_config", "1"),
                ("testing_scripts", "none"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let before = r.json()["interface_set"][0]["name"].as_str().unwrap().to_string();
    // The options are recorded on the run's set; no tests were asked for.
    let sets = s.get(Some(&admin), &format!("nodes/{sid}/results/?type=commissioning")).await.json();
    assert_eq!(sets.as_array().unwrap().len(), 2);
    let mut inv = inventory::fake(21);
    inv.resources.network.cards[0].ports[0].address = mac.into();
    inv.resources.network.cards[0].ports[0].id = "renamed0".into();
    let renamed = serde_json::to_vec(&inv).unwrap();
    let key = node_key(&s, &admin, &sid).await;
    signal(&s, &key, "OK", &[], &[(&out, &renamed)]).await;
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Ready", "{}", m["status_message"]);
    assert_eq!(vgs(&m), 1, "skip_storage keeps the custom layout");
    assert_eq!(m["interface_set"][0]["name"], before.as_str(), "skip_networking keeps interfaces");

    // Without the flags the same run replaces both.
    let r = s.post(Some(&admin), &commission, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = node_key(&s, &admin, &sid).await;
    signal(&s, &key, "OK", &[], &[(&out, &renamed)]).await;
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Ready", "{}", m["status_message"]);
    assert_eq!(vgs(&m), 0, "the default (flat) layout replaced LVM");
    assert_eq!(m["interface_set"][0]["name"], "renamed0");

    // A failing commissioning script → Failed commissioning naming it.
    let r = s.post(Some(&admin), &commission, &[("enable_ssh", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = node_key(&s, &admin, &sid).await;
    let pre = md_get(&s, &key, &format!("latest/by-id/{sid}/?op=get_preseed")).await;
    assert!(pre.body.contains("  enable_ssh: true\n"), "{}", pre.body);
    signal(&s, &key, "WORKING", &[("name", "20-probe"), ("exit_status", "2")], &[("20-probe.err", b"no")]).await;
    signal(&s, &key, "OK", &[], &[(&out, &renamed)]).await;
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Failed commissioning");
    assert_eq!(m["status_message"], "Failed commissioning - 20-probe failed");
    // The built-ins this raw signal never reported were aborted by the
    // failure, and MAAS ranks Aborted before Failed in a set's status.
    assert_eq!(m["commissioning_status_name"], "Aborted");
});

// Issue 17's "Done when": a user-uploaded testing script with a parameter,
// chosen through `test`, runs in the real agent (its runner, a real shell)
// and its output comes back through `nodes/{id}/results/`.
backend_tests!(a_user_testing_script_with_a_parameter_runs_in_the_agent, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let mac = "52:54:00:5c:02:01";
    let sid = commissioned(&s, &admin, mac, "param1", 21).await;
    let text = "#!/bin/sh\n\
                # --- Start MAAS 1.0 script metadata ---\n\
                # name: greet\n\
                # script_type: testing\n\
                # parameters:\n\
                #   msg: {type: string, default: hello}\n\
                # --- End MAAS 1.0 script metadata ---\n\
                echo \"greet $1\"\n";
    let r = s.post(Some(&admin), "scripts/", &[("script", text)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(Some(&admin), &format!("machines/{sid}/?op=test"), &[("testing_scripts", "greet"), ("greet_msg", "bye")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status_name"], "Testing");

    // The machine boots the way the rack would boot it.
    let mut inv = inventory::fake(21);
    inv.resources.storage.disks.clear();
    inv.resources.network.cards[0].ports[0].address = mac.into();
    assert_eq!(boot_real_agent(&s, mac, 21, inv).await, ironpool_agent::Outcome::Tested);
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Ready");
    assert_eq!(m["testing_status_name"], "Passed");

    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/current-testing/?include_output=1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.json();
    let greet = set["results"].as_array().unwrap().iter().find(|x| x["name"] == "greet").expect("greet ran");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(greet["stdout"], b64("greet --msg=bye\n"), "{greet}");
    assert_eq!(greet["status_name"], "Passed");
    assert_eq!(greet["exit_status"], 0);
    assert_eq!(greet["parameters"]["msg"]["value"], "bye", "{greet}");
});

// Issue 17's inventory fields: the NUMA nodes and the PCI/USB devices
// (`nodes/{id}/devices/`) recorded from a commissioning's inventory, with
// MAAS's filters, id forms, messages and permissions.
backend_tests!(node_devices_and_numa_from_commissioning, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let mac = "52:54:00:5c:03:01";
    let seed = 31;
    let sid = commissioned(&s, &admin, mac, "devs1", seed).await;
    let inv = inventory::fake(seed);

    let m = machine(&s, &admin, &sid).await;
    let numa = m["numanode_set"].as_array().unwrap();
    assert_eq!(numa.len(), inv.resources.memory.nodes.len(), "{m}");
    for (n, want) in numa.iter().zip(&inv.resources.memory.nodes) {
        assert_eq!(n["index"], want.numa_node);
        assert_eq!(n["cores"], serde_json::json!(want.cpus));
        assert_eq!(n["memory"], want.total / (1024 * 1024));
    }

    let list = |q: &'static str| {
        let (s, admin, sid) = (&s, &admin, &sid);
        async move {
            let r = s.get(Some(admin), &format!("nodes/{sid}/devices/{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.json().as_array().unwrap().clone()
        }
    };
    let all = list("").await;
    let (npci, nusb) = (inv.resources.pci.devices.len(), inv.resources.usb.devices.len());
    assert_eq!(all.len(), npci + nusb, "{all:?}");
    assert_eq!(list("?bus=usb").await.len(), nusb);
    assert_eq!(list("?bus=PCIE").await.len(), npci);
    assert_eq!(list("?bus=1").await.len(), npci);
    let gpus = list("?hardware_type=gpu").await;
    assert_eq!(gpus.len(), 1, "{gpus:?}");
    assert_eq!(gpus[0]["hardware_type_name"], "GPU");
    assert_eq!(list("?commissioning_driver=AHCI").await.len(), 1);
    let intel = list("?vendor_name=intel%20corporation").await;
    assert_eq!(intel.len(), 1 + inv.resources.network.cards.len(), "{intel:?}");
    for (q, msg) in [
        ("?bus=3", "Invalid bus numeric value!"),
        ("?bus=pci", "Bus must be PCIE or USB!"),
        ("?hardware_type=toaster", "Hardware type must be"),
    ] {
        let r = s.get(Some(&admin), &format!("nodes/{sid}/devices/{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.body.contains(msg), "{q}: {}", r.body);
    }

    // Each device links to what it backs.
    let sata = all.iter().find(|d| d["commissioning_driver"] == "ahci").unwrap();
    assert_eq!(sata["hardware_type_name"], "Storage");
    assert_eq!(sata["physical_blockdevice"]["name"], inv.resources.storage.disks[0].id, "{sata}");
    assert_eq!(sata["pci_address"], "0000:00:1f.2");
    assert_eq!((sata["bus_number"].as_i64(), sata["device_number"].as_i64()), (Some(0), Some(0x1f)));
    let nic = all.iter().find(|d| d["physical_interface"]["mac_address"] == mac).expect("the NIC is linked");
    assert_eq!(
        (&nic["hardware_type_name"], &nic["bus_name"], &nic["numa_node"]),
        (&"Network".into(), &"PCIE".into(), &1.into())
    );
    let usb = all.iter().find(|d| d["bus_name"] == "USB").unwrap();
    assert_eq!(usb["pci_address"], serde_json::Value::Null);
    assert_eq!(usb["resource_uri"], format!("/MAAS/api/2.0/nodes/{sid}/devices/{}/", usb["id"]));

    // By id, PCI address or bus:device; MAAS's 400 for a miss by the last two.
    for id in [sata["id"].to_string(), "0000:00:1f.2".into()] {
        let r = s.get(Some(&alice), &format!("nodes/{sid}/devices/{id}/")).await;
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        assert_eq!(r.json()["id"], sata["id"]);
    }
    let r = s.get(Some(&admin), &format!("nodes/{sid}/devices/{}:{}/", usb["bus_number"], usb["device_number"])).await;
    assert_eq!(r.json()["id"], usb["id"], "{}", r.body);
    for id in ["0000:99:00.0", "x:y"] {
        let r = s.get(Some(&admin), &format!("nodes/{sid}/devices/{id}/")).await;
        assert_eq!((r.status, r.body.as_str()), (400, "Invalid id format!"), "{id}");
    }
    let r = s.get(Some(&admin), &format!("nodes/{sid}/devices/999999/")).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s.get(Some(&admin), "nodes/nosuch/devices/").await;
    assert_eq!((r.status, r.body.as_str()), (404, "No Node matches the given query."));
    assert_eq!(s.get(None, &format!("nodes/{sid}/devices/")).await.status, 401);

    // Deleting is for administrators; commissioning brings it back.
    let one = format!("nodes/{sid}/devices/{}/", usb["id"]);
    assert_eq!(s.call(Some(&alice), "DELETE", &one, &[]).await.status, 403);
    assert_eq!(s.call(Some(&admin), "DELETE", &one, &[]).await.status, 204);
    assert_eq!(s.get(Some(&admin), &one).await.status, 404);
    assert_eq!(list("").await.len(), npci + nusb - 1);
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=commission"), &[("testing_scripts", "none")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = node_key(&s, &admin, &sid).await;
    let out = format!("{COMMISSIONING_SCRIPT}.out");
    signal(&s, &key, "OK", &[], &[(&out, &inventory_for(seed, mac))]).await;
    assert_eq!(machine(&s, &admin, &sid).await["status_name"], "Ready");
    assert_eq!(list("").await.len(), npci + nusb);
});

// MAAS's per-device results: a storage script runs once per disk, each run
// reporting to its own result (`script_result_id` in the index), with the
// disk in its `storage` parameter; the real agent runs each on its disk.
backend_tests!(a_storage_script_runs_once_per_disk_each_its_own_result, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let seed = (0..200).find(|&x| inventory::fake(x).resources.storage.disks.len() == 2).unwrap();
    let mac = "52:54:00:5c:04:01";
    let sid = commissioned(&s, &admin, mac, "perdisk", seed).await;
    let text = "#!/bin/sh\n\
                # --- Start MAAS 1.0 script metadata ---\n\
                # name: each-disk\n\
                # script_type: testing\n\
                # hardware_type: storage\n\
                # parallel: instance\n\
                # parameters:\n\
                #   storage: {type: storage}\n\
                # --- End MAAS 1.0 script metadata ---\n\
                echo \"disk $1\"\n";
    let r = s.post(Some(&admin), "scripts/", &[("script", text)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=test"), &[("testing_scripts", "each-disk")]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let mut inv = inventory::fake(seed);
    inv.resources.network.cards[0].ports[0].address = mac.into();
    assert_eq!(boot_real_agent(&s, mac, seed, inv.clone()).await, ironpool_agent::Outcome::Tested);
    let m = machine(&s, &admin, &sid).await;
    assert_eq!((m["status_name"].as_str(), m["testing_status_name"].as_str()), (Some("Ready"), Some("Passed")));

    let set = s.get(Some(&admin), &format!("nodes/{sid}/results/current-testing/?include_output=1")).await.json();
    let runs: Vec<&serde_json::Value> =
        set["results"].as_array().unwrap().iter().filter(|x| x["name"] == "each-disk").collect();
    assert_eq!(runs.len(), 2, "one result per disk: {set}");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut seen = Vec::new();
    for x in runs {
        assert_eq!(x["status_name"], "Passed", "{x}");
        let disk = &x["parameters"]["storage"]["value"];
        let name = disk["name"].as_str().unwrap().to_string();
        let bd = m["blockdevice_set"].as_array().unwrap().iter().find(|d| d["name"] == name.as_str()).unwrap();
        assert_eq!(disk["physical_blockdevice_id"], bd["id"], "{x}");
        assert_eq!(disk["serial"], bd["serial"], "{x}");
        assert_eq!(x["stdout"], b64(&format!("disk --storage=/dev/{name}\n")), "{x}");
        seen.push(name);
    }
    seen.sort();
    let mut want: Vec<String> = inv.resources.storage.disks.iter().map(|d| d.id.clone()).collect();
    want.sort();
    assert_eq!(seen, want);
});
