//! Issue 17: `scripts/` with MAAS's shapes, embedded metadata, history,
//! `download`, `revert`, tags, permissions and error words; the built-in
//! scripts seeded at start; the `maas-scripts` tar a node fetches in its
//! phase; the real agent library running a user's testing script with
//! a parameter against this region, its output landing in the results;
//! and BMC configuration's region side (parameters from the maas_auto_ipmi
//! settings, the credentials a signal brings, skip_bmc_config).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::io::Read;

use base64::Engine as _;
use common::*;
use ironpool_agent::client::{Credentials, MetadataClient};
use ironpool_agent::{inventory, scripts::Mode, Agent, Outcome};
use serde_json::{json, Value};

const BUILTIN_COMMISSIONING: [&str; 7] = [
    "20-maas-02-dhcp-unconfigured-ifaces",
    "30-maas-01-bmc-config",
    "50-maas-01-commissioning",
    "maas-kernel-cmdline",
    "maas-list-modaliases",
    "maas-lshw",
    "maas-serial-ports",
];
const BUILTIN_TESTING: [&str; 4] = ["internet-connectivity", "memtester", "smartctl-validate", "storage-read"];

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    n.sort();
    n
}

fn with_header(name: &str, yaml: &[&str], body: &str) -> String {
    let mut t = format!("#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\n# name: {name}\n");
    for l in yaml {
        t.push_str(&format!("# {l}\n"));
    }
    t.push_str("# --- End MAAS 1.0 script metadata ---\n");
    t.push_str(body);
    t
}

fn history_ids(v: &Value) -> Vec<i64> {
    v["history"].as_array().unwrap().iter().map(|h| h["id"].as_i64().unwrap()).collect()
}

async fn put(s: &TestServer, who: &ApiKey, rel: &str, form: &[(&str, &str)]) -> Resp {
    s.call(Some(who), "PUT", rel, form).await
}

backend_tests!(builtins_are_seeded_once_and_listed_with_maas_fields, |b| async move {
    let mut s = TestServer::start(b);
    let user = s.user("user", false).await;
    let r = s.get(Some(&user), "scripts/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.json();
    let mut want: Vec<String> =
        BUILTIN_COMMISSIONING.iter().chain(BUILTIN_TESTING.iter()).map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names(&all), want);
    assert!(all.as_array().unwrap().iter().all(|s| s["default"] == true));

    let r = s.get(Some(&user), "scripts/smartctl-validate").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sc = r.json();
    assert_eq!((sc["type"].as_i64(), sc["type_name"].as_str()), (Some(2), Some("Testing script")));
    assert_eq!((sc["hardware_type"].as_i64(), sc["hardware_type_name"].as_str()), (Some(3), Some("Storage")));
    assert_eq!(sc["parallel"], 1);
    assert_eq!(sc["parallel_name"], "Run along other instances of this script");
    assert_eq!(sc["timeout"], "0:05:00");
    assert_eq!(sc["parameters"], json!({"storage": {"type": "storage"}}));
    assert_eq!(sc["tags"], json!(["commissioning", "storage"]));
    assert_eq!(sc["resource_uri"], "/MAAS/api/2.0/scripts/smartctl-validate");
    let keys: Vec<&str> = sc.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "id",
        "name",
        "title",
        "description",
        "tags",
        "type",
        "type_name",
        "hardware_type",
        "hardware_type_name",
        "parallel",
        "parallel_name",
        "results",
        "parameters",
        "packages",
        "timeout",
        "destructive",
        "for_hardware",
        "may_reboot",
        "recommission",
        "history",
        "default",
        "apply_configured_networking",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    let inv = s.get(Some(&user), "scripts/50-maas-01-commissioning").await.json();
    assert_eq!((inv["type"].as_i64(), inv["timeout"].as_str()), (Some(0), Some("0:05:00")));

    // Filters: type (MAAS's words and numbers), hardware_type, names or tags.
    let only = |q: &'static str| {
        let s = &s;
        let user = user.clone();
        async move { names(&s.get(Some(&user), &format!("scripts/?{q}")).await.json()) }
    };
    assert_eq!(only("type=commissioning").await, BUILTIN_COMMISSIONING.to_vec());
    assert_eq!(only("type=2").await, BUILTIN_TESTING.to_vec());
    assert_eq!(only("type=test&hardware_type=storage").await, vec!["smartctl-validate", "storage-read"]);
    assert_eq!(only("filters=memory,maas-lshw").await, vec!["maas-lshw", "memtester"]);
    let r = s.get(Some(&user), "scripts/?type=bogus").await;
    expect(&r, 400, "Script type must be commissioning, testing, release or deployment");
    let r = s.get(Some(&user), "scripts/?hardware_type=9").await;
    expect(&r, 400, "Invalid hardware type numeric value.");
    let r = s.get(Some(&user), "scripts/?include_script=maybe").await;
    expect(&r, 400, "Invalid include_script: Value should be 'true' or 'false'");

    // A second start changes nothing: no new scripts, no new versions.
    let before: Vec<(String, Vec<i64>)> =
        all.as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap().to_string(), history_ids(s))).collect();
    s.stop().await;
    s.restart();
    let again = s.get(Some(&user), "scripts/").await.json();
    let after: Vec<(String, Vec<i64>)> =
        again.as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap().to_string(), history_ids(s))).collect();
    assert_eq!(before, after);
});

backend_tests!(crud_history_revert_download_tags_and_maas_words, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let v1 = with_header(
        "mem-check",
        &[
            "title: Memory check",
            "hardware_type: memory",
            "parallel: any",
            "timeout: 120",
            "tags: [burn-in, quick]",
            "parameters:",
            "  size: {type: string, default: '64M'}",
            "results:",
            "  speed: {title: Speed}",
        ],
        "echo ok\n",
    );

    // Administrators only write.
    let r = s.post(Some(&user), "scripts/", &[("name", "x"), ("script", "#!/bin/sh\n")]).await;
    assert_eq!(r.status, 403, "{}", r.body);

    // The embedded metadata fills what the form leaves out.
    let r = s.post(Some(&admin), "scripts/", &[("script", &v1), ("comment", "first")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sc = r.json();
    let id = sc["id"].as_i64().unwrap();
    assert_eq!(sc["name"], "mem-check");
    assert_eq!(sc["title"], "Memory check");
    assert_eq!(
        (sc["type"].as_i64(), sc["hardware_type"].as_i64(), sc["parallel"].as_i64()),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(sc["timeout"], "0:02:00");
    assert_eq!(sc["tags"], json!(["burn-in", "quick", "memory"]), "the hardware type's label is a tag, as MAAS");
    assert_eq!(sc["parameters"], json!({"size": {"type": "string", "default": "64M"}}));
    assert_eq!(sc["results"], json!({"speed": {"title": "Speed"}}));
    assert_eq!((sc["default"].as_bool(), sc["destructive"].as_bool()), (Some(false), Some(false)));
    assert_eq!(sc["history"].as_array().unwrap().len(), 1);
    assert_eq!(sc["history"][0]["comment"], "first");
    assert!(sc["history"][0]["created"].as_str().unwrap().ends_with(" -0000"));
    assert!(sc["history"][0].get("data").is_none());
    let first_version = sc["history"][0]["id"].as_i64().unwrap();

    // Read by name (with or without the trailing slash gomaasapi adds) and by id.
    for rel in ["scripts/mem-check", "scripts/mem-check/", &format!("scripts/{id}")] {
        let r = s.get(Some(&user), rel).await;
        assert_eq!((r.status, r.json()["id"].as_i64()), (200, Some(id)), "{rel}: {}", r.body);
    }
    let r = s.get(Some(&user), "scripts/nope").await;
    expect(&r, 404, "No Script matches the given query.");

    // A new text is a new version, newest first; the same text adds none.
    let v2 = v1.replace("echo ok", "echo better");
    let r = put(&s, &admin, "scripts/mem-check", &[("script", &v2), ("comment", "second")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put(&s, &admin, "scripts/mem-check", &[("script", &v2), ("description", "d")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sc = r.json();
    assert_eq!(sc["description"], "d");
    let ids = history_ids(&sc);
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1], first_version);
    assert_eq!(sc["history"][0]["comment"], "second");
    let r = s.get(Some(&user), "scripts/mem-check/?include_script=true").await;
    let data = r.json()["history"][1]["data"].as_str().unwrap().to_string();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(data).unwrap(), v1.as_bytes());

    // download: the current text, or a revision from the history.
    let r = s.get(Some(&user), "scripts/mem-check?op=download").await;
    assert_eq!((r.status, r.body.as_str()), (200, v2.as_str()));
    let r = s.get(Some(&user), &format!("scripts/mem-check?op=download&revision={first_version}")).await;
    assert_eq!((r.status, r.body.as_str()), (200, v1.as_str()));
    let r = s.get(Some(&user), "scripts/mem-check?op=download&rev=999999").await;
    expect(&r, 400, "999999 not found in history");
    let r = s.get(Some(&user), "scripts/mem-check?op=download&revision=abc").await;
    expect(&r, 400, "Invalid revision: Please enter an integer value");

    // revert: MAAS's words, then back one step.
    let r = s.post(Some(&user), "scripts/mem-check?op=revert", &[("to", "-1")]).await;
    assert_eq!(r.status, 403);
    let r = s.post(Some(&admin), "scripts/mem-check?op=revert", &[]).await;
    expect(&r, 400, "No provided to!");
    let r = s.post(Some(&admin), "scripts/mem-check?op=revert", &[("to", "-5")]).await;
    expect(&r, 400, "Goes too far back.");
    let r = s.post(Some(&admin), "scripts/mem-check?op=revert", &[("to", "999999")]).await;
    expect(&r, 400, "999999 not found in history");
    let r = s.post(Some(&admin), "scripts/mem-check?op=revert", &[("to", "-1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(history_ids(&r.json()), vec![first_version]);
    let r = s.get(Some(&user), "scripts/mem-check?op=download").await;
    assert_eq!(r.body, v1);

    // Tags.
    let r = s.post(Some(&user), "scripts/mem-check?op=add_tag", &[("tag", "x")]).await;
    assert_eq!(r.status, 403);
    let r = s.post(Some(&admin), "scripts/mem-check?op=add_tag", &[("tag", "a,b")]).await;
    expect(&r, 400, "Tag may not contain a \",\".");
    let r = s.post(Some(&admin), "scripts/mem-check?op=add_tag", &[]).await;
    expect(&r, 400, "No provided tag!");
    let r = s.post(Some(&admin), "scripts/mem-check?op=add_tag", &[("tag", "nightly")]).await;
    assert_eq!(r.json()["tags"], json!(["burn-in", "quick", "memory", "nightly"]));
    let r = s.post(Some(&admin), "scripts/mem-check?op=remove_tag", &[("tag", "quick")]).await;
    assert_eq!(r.json()["tags"], json!(["burn-in", "memory", "nightly"]));

    // A single uploaded file: its part name is the script's name.
    let form = reqwest::multipart::Form::new()
        .part("from-file", reqwest::multipart::Part::bytes(b"#!/bin/sh\necho file\n".to_vec()).file_name("x.sh"))
        .text("type", "commissioning");
    let r = post_form_as(s.api("scripts/"), &admin, form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["name"].as_str(), r.json()["type"].as_i64()), (Some("from-file"), Some(0)));

    // Delete: users may not; then it is gone.
    assert_eq!(s.call(Some(&user), "DELETE", "scripts/from-file", &[]).await.status, 403);
    assert_eq!(s.call(Some(&admin), "DELETE", "scripts/from-file", &[]).await.status, 204);
    assert_eq!(s.get(Some(&user), "scripts/from-file").await.status, 404);
});

backend_tests!(every_bad_request_answers_with_maas_words, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let create = |form: Vec<(&'static str, String)>| {
        let s = &s;
        let admin = admin.clone();
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post(Some(&admin), "scripts/", &f).await
        }
    };
    let ok = "#!/bin/sh\necho\n".to_string();
    let cases: Vec<(Vec<(&'static str, String)>, Value)> = vec![
        (vec![("title", "t".into())], json!({"name": ["This field is required."], "script": ["Must be given a value"]})),
        (vec![("name", "a".into()), ("script", "echo no shebang\n".into())], json!({"script": ["Must start with shebang."]})),
        (
            vec![("script", "#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\nname: a\n# --- End MAAS 1.0 script metadata ---\n".into())],
            json!({"script": ["Missing \"#\" on YAML line."], "name": ["This field is required."]}),
        ),
        (
            vec![("name", "a".into()), ("title", "form".into()), ("script", with_header("a", &["title: yaml"], ""))],
            json!({"title": ["May not override values defined in embedded YAML."]}),
        ),
        (
            vec![("name", "a".into()), ("type", "commissioning".into()), ("script", with_header("a", &["script_type: testing"], ""))],
            json!({"script_type": ["May not override values defined in embedded YAML."]}),
        ),
        (
            vec![("name", "a".into()), ("script", with_header("a", &["tags: {a: 1}"], ""))],
            json!({"tags": ["Embedded tags must be a string of comma seperated values, or a list of strings."]}),
        ),
        (vec![("name", "a".into()), ("script", ok.clone()), ("type", "nightly".into())], json!({"script_type": ["Script type must be commissioning, testing, release or deployment"]})),
        (vec![("name", "a".into()), ("script", ok.clone()), ("type", "1".into())], json!({"script_type": ["Invalid script type numeric value."]})),
        (vec![("name", "a".into()), ("script", ok.clone()), ("hardware_type", "fridge".into())], json!({"hardware_type": ["Hardware type must be node, cpu, memory, storage, or gpu"]})),
        (vec![("name", "a".into()), ("script", ok.clone()), ("parallel", "sometimes".into())], json!({"parallel": ["Script parallel must be disabled, instance, or any."]})),
        (vec![("name", "a".into()), ("script", ok.clone()), ("timeout", "ten".into())], json!({"timeout": ["Enter a valid duration."]})),
        (vec![("name", "None".into()), ("script", ok.clone())], json!({"name": ["\"none\" is a reserved name."]})),
        (vec![("name", "42".into()), ("script", ok.clone())], json!({"name": ["Cannot be a number."]})),
        (vec![("name", "a b".into()), ("script", ok.clone())], json!({"name": ["Name 'a b' contains disallowed characters, e.g. space or quotes."]})),
        (vec![("name", "a".into()), ("comment", "c".into())], json!({"comment": ["\"comment\" may only be used when specifying a \"script\" as well."], "script": ["Must be given a value"]})),
        (vec![("name", "a".into()), ("script", ok.clone()), ("for_hardware", "pci:zz".into())], json!({"for_hardware": ["Hardware identifier 'pci:zz' must be a modalias, PCI ID, USB ID, system vendor, system product, system version, mainboard vendor, or mainboard product."]})),
        (vec![("name", "a".into()), ("script", ok.clone()), ("packages", "{\"apt\": [1]}".into())], json!({"packages": ["Each apt package must be a string."]})),
        (vec![("name", "a".into()), ("script", with_header("a", &["results: [1]"], ""))], json!({"results": ["Each result in a result list must be a string."]})),
        (vec![("name", "a".into()), ("script", with_header("a", &["parameters: {p: {type: disk}}"], ""))], json!({"parameters": ["disk: type must be one of boolean, choice, interface, password, runtime, storage, string, url"]})),
        (vec![("name", "smartctl-validate".into()), ("script", ok.clone())], json!({"name": ["Script with this Name already exists."]})),
    ];
    for (form, want) in cases {
        let r = create(form.clone()).await;
        assert_eq!(r.status, 400, "{form:?}: {}", r.body);
        assert_eq!(r.json(), want, "{form:?}");
    }
    let r = create(vec![
        ("name", "a".into()),
        (
            "script",
            "#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\n# name: [\n# --- End MAAS 1.0 script metadata ---\n"
                .into(),
        ),
    ])
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["script"][0].as_str().unwrap().starts_with("Invalid YAML: "), "{}", r.body);
    // Nothing of the refused requests was stored.
    assert_eq!(s.get(Some(&admin), "scripts/a").await.status, 404);

    // Built-ins: only tags and timeout change; never deleted or reverted.
    let r = put(&s, &admin, "scripts/maas-lshw", &[("title", "mine")]).await;
    assert_eq!((r.status, r.json()), (400, json!({"title": ["Not allowed to change on default scripts."]})));
    let r = put(&s, &admin, "scripts/maas-lshw", &[("tags", "node,mine"), ("timeout", "600")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.json()["tags"].clone(), r.json()["timeout"].clone()), (json!(["node", "mine"]), json!("0:10:00")));
    let r = s.call(Some(&admin), "DELETE", "scripts/maas-lshw", &[]).await;
    expect(&r, 400, "Unable to delete default script");
    let r = s.post(Some(&admin), "scripts/maas-lshw?op=revert", &[("to", "-1")]).await;
    expect(&r, 400, "Unable to revert default script");
    let r = s.post(Some(&admin), "scripts/maas-lshw?op=add_tag", &[("tag", "extra")]).await;
    assert_eq!(r.status, 200, "tags may change on built-ins: {}", r.body);
});

async fn node_creds(s: &TestServer, admin: &ApiKey, sid: &str) -> Credentials {
    let r = s.get(Some(admin), &format!("machines/{sid}/?op=get_token")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    Credentials {
        consumer_key: v["consumer_key"].as_str().unwrap().into(),
        token_key: v["token_key"].as_str().unwrap().into(),
        token_secret: v["token_secret"].as_str().unwrap().into(),
    }
}

/// The tar's index and files.
fn untar(bytes: &[u8]) -> (Value, std::collections::BTreeMap<String, String>) {
    let mut files = std::collections::BTreeMap::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        e.read_to_string(&mut text).unwrap();
        files.insert(path, text);
    }
    let index = serde_json::from_str(&files["index.json"]).unwrap();
    (index, files)
}

backend_tests!(maas_scripts_serves_the_phase_scripts_as_maas_tar, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let custom = with_header("site-inventory", &["script_type: commissioning", "timeout: 30"], "echo site\n");
    let r = s.post(Some(&admin), "scripts/", &[("script", &custom)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url_script = with_header(
        "reach",
        &[
            "tags: [commissioning]",
            "parameters:",
            "  url: {type: url, required: false}",
            "  n: {type: runtime, default: '5'}",
        ],
        "echo \"$@\"\n",
    );
    assert_eq!(s.post(Some(&admin), "scripts/", &[("script", &url_script)]).await.status, 200);

    let sid = commissioning_machine(&s, &admin, "52:54:00:5c:00:01", "tarred").await;
    let creds = node_creds(&s, &admin, &sid).await;
    let md = MetadataClient::new(ironpool_agent::client::http_client(), &format!("{}/MAAS/metadata/", s.origin), creds);
    let tar_bytes = md.get("maas-scripts/").await.unwrap().unwrap();
    let (index, files) = untar(&tar_bytes);
    let list = index["1.0"]["commissioning_scripts"].as_array().unwrap();
    // The run's tests come in the same index (the runner goes on to them).
    let tests = index["1.0"]["testing_scripts"].as_array().unwrap();
    assert_eq!(
        tests.iter().map(|e| e["name"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["reach", "smartctl-validate"]
    );
    assert!(files.contains_key("testing/reach"));
    let mut want: Vec<&str> = BUILTIN_COMMISSIONING.to_vec();
    want.push("site-inventory");
    want.sort();
    assert_eq!(list.iter().map(|e| e["name"].as_str().unwrap()).collect::<Vec<_>>(), want, "name order");
    let e = list.iter().find(|e| e["name"] == "site-inventory").unwrap();
    assert_eq!(e["path"], "commissioning/site-inventory");
    assert_eq!(files["commissioning/site-inventory"], custom);
    assert_eq!(e["timeout_seconds"], 30.0);
    assert_eq!((e["parallel"].as_i64(), e["hardware_type"].as_i64()), (Some(0), Some(0)));
    assert_eq!((e["default"].as_bool(), e["has_started"].as_bool()), (Some(false), Some(false)));
    let v = s.get(Some(&admin), "scripts/site-inventory").await.json();
    assert_eq!(e["script_version_id"], v["history"][0]["id"]);
    for k in ["packages", "for_hardware", "apply_configured_networking", "parameters", "tags"] {
        assert!(e.get(k).is_some(), "{k} missing from {e}");
    }

    // Testing: the testing scripts tagged `commissioning` (MAAS's default
    // selection), parameters resolved: a url without default is the region.
    md.signal("TESTING", &[], Vec::new()).await.unwrap();
    assert_eq!(machine(&s, &admin, &sid).await["status_name"], "Testing");
    let (index, files) = untar(&md.get("maas-scripts/").await.unwrap().unwrap());
    let list = index["1.0"]["testing_scripts"].as_array().unwrap();
    assert_eq!(
        list.iter().map(|e| e["name"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["reach", "smartctl-validate"]
    );
    assert_eq!(list[0]["parameters"]["url"]["value"], format!("{}/MAAS/", s.origin));
    assert_eq!(list[0]["parameters"]["n"]["value"], "5");
    assert_eq!(list[1]["parameters"]["storage"]["value"], "all");
    assert!(files.contains_key("testing/smartctl-validate"));
});

backend_tests!(the_agent_runs_a_user_testing_script_and_its_output_is_stored, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let text = with_header(
        "say",
        &["tags: [commissioning]", "parallel: any", "parameters:", "  msg: {type: string, default: hello}"],
        "echo \"said $1\"\necho 'to stderr' >&2\nprintf 'status: passed\\n' > \"$RESULT_PATH\"\n",
    );
    let r = s.post(Some(&admin), "scripts/", &[("script", &text)]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let mac = "52:54:00:5c:00:02";
    let sid = commissioning_machine(&s, &admin, mac, "tester").await;
    let md = MetadataClient::new(
        ironpool_agent::client::http_client(),
        &format!("{}/MAAS/metadata/", s.origin),
        node_creds(&s, &admin, &sid).await,
    );
    md.signal("TESTING", &[], Vec::new()).await.unwrap();

    // The machine boots the way the rack would boot it, and the agent
    // (no disks: smartctl-validate has nothing to run on) does the phase.
    let mac_s = mac.to_string();
    let action = s.state.db.run(move |c| ironpool_region::engine::metadata::boot_action(c, &mac_s)).await.unwrap();
    let ironpool_region::engine::metadata::BootAction::Ephemeral { preseed_path, .. } = action else {
        panic!("not an ephemeral boot: {action:?}")
    };
    let mut inv = inventory::fake(7);
    inv.resources.storage.disks.clear();
    inv.resources.network.cards[0].ports[0].address = mac.into();
    let agent = Agent {
        details: ironpool_agent::lshw::fake(1, &inv),
        inventory: inv,
        power_type: "manual".into(),
        power_parameters: json!({}),
        step_delay: std::time::Duration::ZERO,
        writes_disks: false,
        scripts: Mode::Real,
    };
    let url = format!("{}/MAAS/metadata/{preseed_path}", s.origin);
    let outcome = agent.boot(&ironpool_agent::client::http_client(), &url).await.unwrap();
    assert_eq!(outcome, Outcome::Tested);

    let sid2 = sid.clone();
    let results = s
        .state
        .db
        .run(move |c| {
            let n = ironpool_region::db::nodes::by_system_id(c, &sid2)?.unwrap();
            ironpool_region::db::metadata::results_of(c, n.id)
        })
        .await
        .unwrap();
    let say = results.iter().find(|r| r.name == "say").expect("the script's result is stored");
    assert_eq!(String::from_utf8_lossy(&say.stdout), "said --msg=hello\n");
    assert_eq!(String::from_utf8_lossy(&say.stderr), "to stderr\n");
    assert_eq!(String::from_utf8_lossy(&say.result), "status: passed\n");
    assert_eq!((say.exit_status, say.status), (Some(0), 2), "passed");
    // smartctl-validate was chosen (the testing set holds it) but with no
    // disks it had no run: skipped, with no exit status.
    let smart = results.iter().find(|r| r.name == "smartctl-validate").expect("chosen for the run");
    assert_eq!((smart.exit_status, smart.status), (None, 9), "no disks, no runs: skipped");
    assert_eq!(machine(&s, &admin, &sid).await["status_name"], "Ready");
});

backend_tests!(simulated_machines_report_every_builtin_commissioning_script, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let admin_row = s.state.db.run(|c| ironpool_region::db::users::by_username(c, "admin")).await.unwrap().unwrap();
    let ids =
        ironpool_region::sim::ensure_machines(&s.state, &admin_row, &s.origin, 1, std::time::Duration::ZERO, None)
            .await
            .unwrap();
    let sid = ids[0].clone();
    let mut status = String::new();
    for _ in 0..300 {
        status = machine(&s, &admin, &sid).await["status_name"].as_str().unwrap().to_string();
        // Commissioning goes on to its tests (Testing) before Ready.
        if status != "Commissioning" && status != "Testing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "Ready");
    let sid2 = sid.clone();
    let results = s
        .state
        .db
        .run(move |c| {
            let n = ironpool_region::db::nodes::by_system_id(c, &sid2)?.unwrap();
            ironpool_region::db::metadata::results_of(c, n.id)
        })
        .await
        .unwrap();
    let mut got: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    got.sort();
    // Every built-in commissioning script reported, plus the LLDP document
    // that rides on the final OK (the testing set holds the default test).
    for want in BUILTIN_COMMISSIONING.iter().chain(&["maas-capture-lldpd"]) {
        assert!(got.contains(want), "{want} missing from {got:?}");
    }
    // maas-lshw is answered in-process with the machine's lshw document.
    let lshw = results.iter().find(|r| r.name == "maas-lshw").unwrap();
    assert!(String::from_utf8_lossy(&lshw.stdout).contains("class=\"system\""), "the agent's own lshw document");
    let cmdline = results.iter().find(|r| r.name == "maas-kernel-cmdline").unwrap();
    assert!(String::from_utf8_lossy(&cmdline.stdout).contains("was not run"), "simulated, deterministic");
    let inv = results.iter().find(|r| r.name == "50-maas-01-commissioning").unwrap();
    assert!(serde_json::from_slice::<Value>(&inv.stdout).is_ok(), "the inventory, as before");
});

const BMC: &str = "30-maas-01-bmc-config";

/// What the current commissioning set says of one script.
async fn current_result(s: &TestServer, admin: &ApiKey, sid: &str, name: &str) -> Value {
    let r = s.get(Some(admin), &format!("nodes/{sid}/results/current-commissioning/?include_output=1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.json();
    set["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name}: {set}"))
}

backend_tests!(bmc_config_takes_settings_as_defaults_and_its_credentials_set_power, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    for (k, v) in [("maas_auto_ipmi_user", "opsbmc"), ("maas_auto_ipmi_k_g_bmc_key", "0123456789abcdefghij")] {
        let r = s.post(Some(&admin), "maas/?op=set_config", &[("name", k), ("value", v)]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let sid = commissioning_machine(&s, &admin, "52:54:00:5c:00:31", "bmc1").await;
    let md = MetadataClient::new(
        ironpool_agent::client::http_client(),
        &format!("{}/MAAS/metadata/", s.origin),
        node_creds(&s, &admin, &sid).await,
    );

    // The runner is given the script with the settings as its arguments'
    // values (MAAS's DEFAULTS_FROM_MAAS_CONFIG).
    let (index, files) = untar(&md.get("maas-scripts/").await.unwrap().unwrap());
    let list = index["1.0"]["commissioning_scripts"].as_array().unwrap();
    let e = list.iter().find(|e| e["name"] == BMC).unwrap_or_else(|| panic!("{BMC} not served: {index}"));
    let p = &e["parameters"];
    assert_eq!(p["maas_auto_ipmi_user"]["value"], "opsbmc", "{e}");
    assert_eq!(p["maas_auto_ipmi_user"]["argument_format"], "--username={input}");
    assert_eq!(p["maas_auto_ipmi_user_privilege_level"]["value"], "ADMIN");
    assert_eq!(p["maas_auto_ipmi_cipher_suite_id"]["value"], "3");
    assert_eq!(p["maas_auto_ipmi_k_g_bmc_key"]["value"], "0123456789abcdefghij");
    assert!(files[&format!("commissioning/{BMC}")].contains("ironpool-agent --bmc-config"));
    assert!(e["tags"].as_array().unwrap().contains(&json!("bmc-config")), "{e}");
    // The result keeps the run's values; the K_g key is a password there.
    let r = current_result(&s, &admin, &sid, BMC).await;
    assert_eq!(r["parameters"]["maas_auto_ipmi_user"]["value"], "opsbmc", "{r}");
    assert_eq!(r["parameters"]["maas_auto_ipmi_k_g_bmc_key"]["value"], "REDACTED", "{r}");

    // Credentials that cannot be used are refused and change nothing.
    let report = |ty: &str, params: String| {
        let md = &md;
        let fields = vec![
            ("name", BMC.to_string()),
            ("exit_status", "0".to_string()),
            ("power_type", ty.to_string()),
            ("power_parameters", params),
        ];
        async move { md.signal("WORKING", &fields, vec![(format!("{BMC}.out"), b"INFO: IPMI detected!\n".to_vec())]).await }
    };
    let e = report("ipmi", "{not json".into()).await.unwrap_err().to_string();
    assert!(e.contains("400") && e.contains("Failed to parse JSON power_parameters"), "{e}");
    let e = report("moonshot", "{}".into()).await.unwrap_err().to_string();
    assert!(e.contains("400") && e.contains("Bad power_type 'moonshot'"), "{e}");
    assert_eq!(machine(&s, &admin, &sid).await["power_type"], "manual");

    // What the agent's BMC configuration sends: the machine's power is set
    // (keys ipmi does not have are dropped), and an event says by what.
    let creds = json!({
        "power_address": "10.9.8.7", "power_user": "opsbmc", "power_pass": "s3cretPW99",
        "power_driver": "LAN_2_0", "power_boot_type": "auto", "k_g": "", "cipher_suite_id": "3",
        "privilege_level": "ADMIN", "mac_address": null, "power_hwaddress": "moonshot's"
    });
    report("ipmi", creds.to_string()).await.unwrap();
    assert_eq!(machine(&s, &admin, &sid).await["power_type"], "ipmi");
    let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!((p["power_address"].as_str(), p["power_user"].as_str()), (Some("10.9.8.7"), Some("opsbmc")), "{p}");
    assert_eq!((p["power_pass"].as_str(), p["power_driver"].as_str()), (Some("s3cretPW99"), Some("LAN_2_0")), "{p}");
    assert!(p.get("power_hwaddress").is_none(), "{p}");
    assert_eq!(current_result(&s, &admin, &sid, BMC).await["status_name"], "Passed");
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={sid}")).await.json();
    assert!(ev.to_string().contains(&format!("BMC credentials (ipmi) reconfigured by {BMC}")), "{ev}");
    assert!(!ev.to_string().contains("s3cretPW99"), "the password is in an event: {ev}");

    // A script's own verdict in its result YAML wins over its exit status;
    // YAML that does not parse is logged and the exit status stands.
    md.signal(
        "WORKING",
        &[("name", "20-probe".into()), ("exit_status", "0".into())],
        vec![("20-probe.yaml".into(), b"status: skipped\n".to_vec())],
    )
    .await
    .unwrap();
    assert_eq!(current_result(&s, &admin, &sid, "20-probe").await["status_name"], "Skipped");
    md.signal(
        "WORKING",
        &[("name", "20-other".into()), ("exit_status", "0".into())],
        vec![("20-other.yaml".into(), b"status: [unclosed\n".to_vec())],
    )
    .await
    .unwrap();
    assert_eq!(current_result(&s, &admin, &sid, "20-other").await["status_name"], "Passed");
    let ev = s.get(Some(&admin), &format!("events/?op=query&id={sid}")).await.json();
    assert!(ev.to_string().contains("sent a script result with invalid YAML"), "{ev}");

    // skip_bmc_config: the run keeps the script's result, skipped with
    // MAAS's words, and the runner is not given it; power stays as it was.
    md.signal("OK", &[], Vec::new()).await.unwrap();
    assert_eq!(machine(&s, &admin, &sid).await["status_name"], "Ready");
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{sid}/?op=commission"),
            &[("skip_bmc_config", "true"), ("testing_scripts", "none")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = current_result(&s, &admin, &sid, BMC).await;
    assert_eq!((r["status_name"].as_str(), r["exit_status"].as_i64()), (Some("Skipped"), Some(0)), "{r}");
    let out =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r["output"].as_str().unwrap()).unwrap())
            .unwrap();
    assert!(out.starts_with("INFO: User admin (") && out.contains("has choosen to skip BMC configuration"), "{out}");
    let md = MetadataClient::new(
        ironpool_agent::client::http_client(),
        &format!("{}/MAAS/metadata/", s.origin),
        node_creds(&s, &admin, &sid).await,
    );
    let (index, _) = untar(&md.get("maas-scripts/").await.unwrap().unwrap());
    let served: Vec<&str> =
        index["1.0"]["commissioning_scripts"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(!served.contains(&BMC) && served.contains(&"50-maas-01-commissioning"), "{served:?}");
    assert_eq!(machine(&s, &admin, &sid).await["power_type"], "ipmi");
});

// The real runner on a host that is not the machine (a test, CI): the BMC
// step reports itself skipped and touches nothing.
backend_tests!(the_agent_off_the_machine_skips_bmc_configuration, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let mac = "52:54:00:5c:00:32";
    let sid = commissioning_machine(&s, &admin, mac, "bmc2").await;
    let mac_s = mac.to_string();
    let action = s.state.db.run(move |c| ironpool_region::engine::metadata::boot_action(c, &mac_s)).await.unwrap();
    let ironpool_region::engine::metadata::BootAction::Ephemeral { preseed_path, .. } = action else {
        panic!("not an ephemeral boot: {action:?}")
    };
    let mut inv = inventory::fake(8);
    inv.resources.network.cards[0].ports[0].address = mac.into();
    let agent = Agent {
        details: ironpool_agent::lshw::fake(1, &inv),
        inventory: inv,
        power_type: "manual".into(),
        power_parameters: json!({}),
        step_delay: std::time::Duration::ZERO,
        writes_disks: false,
        scripts: Mode::Real,
    };
    let url = format!("{}/MAAS/metadata/{preseed_path}", s.origin);
    let outcome = agent.boot(&ironpool_agent::client::http_client(), &url).await.unwrap();
    assert_eq!(outcome, Outcome::Commissioned);
    let r = current_result(&s, &admin, &sid, BMC).await;
    assert_eq!(r["status_name"], "Skipped", "{r}");
    let m = machine(&s, &admin, &sid).await;
    assert_eq!((m["status_name"].as_str(), m["power_type"].as_str()), (Some("Ready"), Some("manual")), "{m}");
});

/// Serves `body` to every HTTP GET on a local port; returns the base URL.
async fn serve_bytes(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-tar\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}")
}

// A script's `packages`: a URL package is downloaded and unpacked into its
// DOWNLOAD_PATH before it runs; apt packages are not installed into a host
// that is not the machine, so that script fails installing and never runs.
backend_tests!(script_packages_are_installed_before_the_script_runs, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(12);
    h.set_mode(0o755);
    h.set_cksum();
    t.append_data(&mut h, "tool/VERSION", &b"tool 1.2.3\n\n"[..]).unwrap();
    let base = serve_bytes(t.into_inner().unwrap()).await;
    let uses_url = with_header(
        "uses-url",
        &["script_type: testing", "packages:", &format!("  url: [{base}/dl/tool.tar]")],
        "head -n1 \"$DOWNLOAD_PATH/tool/VERSION\"\n",
    );
    let uses_apt =
        with_header("uses-apt", &["script_type: testing", "packages: {apt: [fio]}"], "echo this must not run\n");
    for text in [&uses_url, &uses_apt] {
        let r = s.post(Some(&admin), "scripts/", &[("script", text.as_str())]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mac = "52:54:00:5c:00:33";
    let sid = commissioning_machine(&s, &admin, mac, "pkgs").await;
    let md = MetadataClient::new(
        ironpool_agent::client::http_client(),
        &format!("{}/MAAS/metadata/", s.origin),
        node_creds(&s, &admin, &sid).await,
    );
    md.signal("OK", &[], Vec::new()).await.unwrap();
    let r =
        s.post(Some(&admin), &format!("machines/{sid}/?op=test"), &[("testing_scripts", "uses-url,uses-apt")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mac_s = mac.to_string();
    let action = s.state.db.run(move |c| ironpool_region::engine::metadata::boot_action(c, &mac_s)).await.unwrap();
    let ironpool_region::engine::metadata::BootAction::Ephemeral { preseed_path, .. } = action else {
        panic!("not an ephemeral boot: {action:?}")
    };
    let mut inv = inventory::fake(9);
    inv.resources.network.cards[0].ports[0].address = mac.into();
    let agent = Agent {
        details: ironpool_agent::lshw::fake(1, &inv),
        inventory: inv,
        power_type: "manual".into(),
        power_parameters: json!({}),
        step_delay: std::time::Duration::ZERO,
        writes_disks: false,
        scripts: Mode::Real,
    };
    let url = format!("{}/MAAS/metadata/{preseed_path}", s.origin);
    assert_eq!(agent.boot(&ironpool_agent::client::http_client(), &url).await.unwrap(), Outcome::Tested);

    let set = s.get(Some(&admin), &format!("nodes/{sid}/results/current-testing/?include_output=1")).await.json();
    let find = |name: &str| set["results"].as_array().unwrap().iter().find(|r| r["name"] == name).cloned().unwrap();
    let text = |r: &Value, k: &str| {
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r[k].as_str().unwrap()).unwrap()).unwrap()
    };
    let ok = find("uses-url");
    assert_eq!(ok["status_name"], "Passed", "{ok}");
    assert_eq!(text(&ok, "stdout"), "tool 1.2.3\n");
    let bad = find("uses-apt");
    assert_eq!(
        (bad["status_name"].as_str(), bad["exit_status"].as_i64()),
        (Some("Failed installing dependencies"), Some(1)),
        "{bad}"
    );
    let out = text(&bad, "output");
    assert!(out.contains("not installing apt packages fio") && !out.contains("must not run"), "{out}");
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["status_name"], "Failed testing", "{m}");
    assert!(m["status_message"].as_str().unwrap_or("").contains("uses-apt"), "{m}");
});
