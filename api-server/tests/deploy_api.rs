//! Issue 16's region-side deployment API: `package-repositories/` (MAAS's
//! shape, form rules and words, the two seeded archives), the apt
//! configuration they put into the install document, `get_curtin_config`
//! (YAML, MAAS's status rule), `restore_*` and `clear_default_gateways`
//! (permissions, states, effects), and `ephemeral_deploy` honoured by the
//! agent (no disk path, network boot kept).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::Duration;

use common::*;
use ironpool_common::deploy::CurtinConfig;
use serde_json::{json, Value};

async fn wait_status(s: &TestServer, admin: &ApiKey, sid: &str, want: &str) -> Value {
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

fn repo_id(v: &Value) -> String {
    v["id"].as_i64().unwrap().to_string()
}

backend_tests!(package_repositories_crud_rules_and_defaults, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;

    // The two archives MAAS creates, readable by everyone, in MAAS's shape.
    let r = s.get(Some(&user), "package-repositories/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.json();
    assert_eq!(
        all[0],
        json!({
            "id": 1, "name": "main_archive", "url": "http://archive.ubuntu.com/ubuntu",
            "distributions": [], "disabled_pockets": [], "disabled_components": [],
            "disable_sources": true, "components": [], "arches": ["amd64", "i386"],
            "key": "", "enabled": true, "resource_uri": "/MAAS/api/2.0/package-repositories/1/",
        })
    );
    assert_eq!(all[1]["name"], "ports_archive");
    assert_eq!(all[1]["url"], "http://ports.ubuntu.com/ubuntu-ports");
    assert_eq!(all[1]["arches"], json!(["armhf", "arm64", "ppc64el", "s390x"]));
    assert_eq!(all.as_array().unwrap().len(), 2);
    let d = s.get(Some(&user), "describe/").await.json();
    let described: Vec<&str> = d["handlers"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert!(described.contains(&"PackageRepositoriesHandler") && described.contains(&"PackageRepositoryHandler"));

    // Writes are for administrators; MAAS's form words for the rest.
    let r = s.post(Some(&user), "package-repositories/", &[("name", "x"), ("url", "http://x.example/")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.post(Some(&admin), "package-repositories/", &[("key", "k")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"name": ["This field is required."], "url": ["This field is required."]}));
    let bad = [
        (("url", "not a url"), "url", "Enter a valid repository URL or PPA location."),
        (
            ("arches", "amd64,sparc"),
            "arches",
            "'sparc' is not a valid architecture. Known architectures: amd64, arm64, armhf, i386, ppc64el, s390x",
        ),
        (
            ("disabled_pockets", "proposed"),
            "disabled_pockets",
            "'proposed' is not a valid Ubuntu archive pocket. You can only disable ['updates', 'security', 'backports'].",
        ),
        (
            ("disabled_components", "universe"),
            "disabled_components",
            "This is a custom repository. Please update 'components' instead.",
        ),
    ];
    for ((k, v), field, text) in bad {
        let mut form = vec![("name", "extras"), ("url", "http://repo.example.com/ubuntu")];
        form.retain(|(f, _)| *f != k);
        form.push((k, v));
        let r = s.post(Some(&admin), "package-repositories/", &form).await;
        assert_eq!(r.status, 400, "{k}={v}: {}", r.body);
        assert_eq!(r.json(), json!({ field: [text] }), "{k}={v}");
    }
    let long = "n".repeat(42);
    let r = s.post(Some(&admin), "package-repositories/", &[("name", &long), ("url", "http://x.example/")]).await;
    expect(&r, 400, "Ensure this value has at most 41 characters (it has 42).");

    // A custom repository: MAAS's defaults for what is left out; a URL
    // without a scheme is taken as http.
    let form = [
        ("name", "extras"),
        ("url", "repo.example.com/ubuntu"),
        ("components", "main, universe"),
        ("distributions", "jammy"),
        ("key", "-----BEGIN PGP PUBLIC KEY BLOCK-----\nxyz\n-----END PGP PUBLIC KEY BLOCK-----"),
    ];
    let r = s.post(Some(&admin), "package-repositories/", &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let extras = r.json();
    let id = repo_id(&extras);
    assert_eq!(extras["url"], "http://repo.example.com/ubuntu");
    assert_eq!(extras["components"], json!(["main", "universe"]));
    assert_eq!(extras["distributions"], json!(["jammy"]));
    assert_eq!(extras["arches"], json!(["amd64", "i386"]));
    assert_eq!((extras["enabled"].as_bool(), extras["disable_sources"].as_bool()), (Some(true), Some(true)));
    assert_eq!(extras["resource_uri"], format!("/MAAS/api/2.0/package-repositories/{id}/"));
    let r =
        s.post(Some(&admin), "package-repositories/", &[("name", "extras"), ("url", "http://other.example/")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"name": ["Package repository with this Name already exists."]}));
    let r = s.post(Some(&admin), "package-repositories/", &[("name", "maas-ppa"), ("url", "ppa:maas/stable")]).await;
    assert_eq!((r.status, r.json()["url"].as_str()), (200, Some("ppa:maas/stable")), "{}", r.body);

    // Read by id or name; unknown: MAAS's 404.
    let r = s.get(Some(&user), &format!("package-repositories/{id}/")).await;
    assert_eq!(r.json(), extras);
    assert_eq!(s.get(Some(&user), "package-repositories/extras/").await.json(), extras);
    expect(
        &s.get(Some(&user), "package-repositories/99999/").await,
        404,
        "No PackageRepository matches the given query.",
    );

    // Update: partial; the default archives take disabled_components, never
    // components, and cannot be disabled.
    let r = s.call(Some(&user), "PUT", &format!("package-repositories/{id}/"), &[("enabled", "false")]).await;
    assert_eq!(r.status, 403);
    let r = s.call(Some(&admin), "PUT", &format!("package-repositories/{id}/"), &[("enabled", "false")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.json()["enabled"].as_bool(), r.json()["components"].clone()),
        (Some(false), json!(["main", "universe"]))
    );
    let r = s.call(Some(&admin), "PUT", "package-repositories/1/", &[("components", "main")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"components": ["This is a default Ubuntu repository. Please update 'disabled_components' instead."]})
    );
    let r = s.call(Some(&admin), "PUT", "package-repositories/1/", &[("enabled", "false")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"__all__": ["Default repositories may not be disabled."]}));
    let r = s
        .call(
            Some(&admin),
            "PUT",
            "package-repositories/1/",
            &[("disabled_components", "universe,multiverse"), ("disabled_pockets", "backports")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["disabled_components"], json!(["universe", "multiverse"]));
    assert_eq!(r.json()["disabled_pockets"], json!(["backports"]));
    let r = s.call(Some(&admin), "PUT", "package-repositories/1/", &[("disabled_components", "")]).await;
    assert_eq!(r.json()["disabled_components"], json!([]), "an empty value clears, as in MAAS");
    let r = s.call(Some(&admin), "PUT", "package-repositories/1/", &[("disabled_components", "main")]).await;
    expect(&r, 400, "'main' is not a valid Ubuntu archive component. You can only disable ['restricted', 'universe', 'multiverse'].");

    // Delete: never the defaults (400 in MAAS's words), admins only.
    expect(
        &s.call(Some(&admin), "DELETE", "package-repositories/2/", &[]).await,
        400,
        "Cannot delete default Ubuntu archives.",
    );
    assert_eq!(s.call(Some(&user), "DELETE", &format!("package-repositories/{id}/"), &[]).await.status, 403);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("package-repositories/{id}/"), &[]).await.status, 204);
    assert_eq!(s.get(Some(&user), &format!("package-repositories/{id}/")).await.status, 404);
    let names: Vec<String> = s
        .get(Some(&user), "package-repositories/")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["main_archive", "ports_archive", "maas-ppa"]);
});

backend_tests!(curtin_config_yaml_and_apt_sources, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let sid = ready_machine(&s, &admin, "apt-one", 2, 2048).await;

    // Only in the deployment states (MAAS: 400 naming the hostname).
    expect(
        &s.get(Some(&admin), &format!("machines/{sid}/?op=get_curtin_config")).await,
        400,
        "Machine apt-one is not in a deployment state.",
    );
    expect(&s.get(Some(&admin), "machines/nosuch/?op=get_curtin_config").await, 404, "No Machine matches");

    // The archive with a key, a component and a pocket disabled; an extra
    // repository with a key, a PPA, a disabled one and an arm64-only one.
    let put = [("disabled_components", "universe"), ("disabled_pockets", "backports"), ("key", "ARCHIVE KEY")];
    assert_eq!(s.call(Some(&admin), "PUT", "package-repositories/1/", &put).await.status, 200);
    let mk = |form: Vec<(&'static str, &'static str)>| {
        let s = &s;
        let admin = &admin;
        async move {
            let r = s.post(Some(admin), "package-repositories/", &form).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()
        }
    };
    let extras = mk(vec![
        ("name", "Extras Repo"),
        ("url", "http://repo.example.com/ubuntu"),
        ("components", "main,universe"),
        ("distributions", "jammy,jammy-updates"),
        ("key", "EXTRAS KEY"),
    ])
    .await;
    let ppa = mk(vec![("name", "maas"), ("url", "ppa:maas/stable")]).await;
    mk(vec![("name", "off"), ("url", "http://off.example.com/"), ("enabled", "false")]).await;
    mk(vec![("name", "armonly"), ("url", "http://arm.example.com/"), ("arches", "arm64")]).await;

    let image: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    let fields = [("name", "custom/tiny"), ("architecture", "amd64/generic"), ("filetype", "ddraw")];
    assert_eq!(upload_boot_resource(&s, &admin, &fields, Some(image)).await.status, 201);
    // apt goes through the configured proxy (enable_http_proxy is on by
    // default).
    let r = s
        .post(Some(&admin), "maas/?op=set_config", &[("name", "http_proxy"), ("value", "http://proxy.example:3128/")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .post(Some(&admin), &format!("machines/{sid}/?op=deploy"), &[("osystem", "custom"), ("distro_series", "tiny")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Whoever can see the machine reads it (another user's: 403), as YAML
    // in text/plain.
    expect(&s.get(Some(&user), &format!("machines/{sid}/?op=get_curtin_config")).await, 403, "permission");
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=get_curtin_config")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
    assert!(!r.body.trim_start().starts_with('{'), "block YAML, not JSON: {}", r.body);
    let cfg: CurtinConfig = serde_norway::from_str(&r.body).unwrap();
    assert_eq!(cfg.sources["00"].kind, "dd-raw");
    assert_eq!(cfg.ironpool.system_id, sid);
    assert!(!cfg.ironpool.ephemeral_deploy);
    let apt = cfg.apt.expect("an apt section");
    assert!(!apt.preserve_sources_list);
    // A custom image: one-line entries (deb822 is for Ubuntu 24.04+).
    let comps = "main restricted multiverse";
    let url = "http://archive.ubuntu.com/ubuntu";
    let want = format!(
        "deb {url} $RELEASE {comps}\n# deb-src {url} $RELEASE {comps}\n\
         deb {url} $RELEASE-updates {comps}\n# deb-src {url} $RELEASE-updates {comps}\n\
         deb {url} $RELEASE-security {comps}\n# deb-src {url} $RELEASE-security {comps}\n"
    );
    assert_eq!(apt.sources_list, want);
    assert_eq!(apt.sources["archive_key"].key.as_deref(), Some("ARCHIVE KEY"));
    let extras_name = format!("extras_repo_{}", extras["id"]);
    let e = &apt.sources[&extras_name];
    assert_eq!(
        e.source.as_deref(),
        Some("deb http://repo.example.com/ubuntu jammy main universe\ndeb http://repo.example.com/ubuntu jammy-updates main universe")
    );
    assert_eq!(e.key.as_deref(), Some("EXTRAS KEY"));
    assert_eq!(apt.sources[&format!("maas_{}", ppa["id"])].source.as_deref(), Some("ppa:maas/stable"));
    assert_eq!(apt.sources.len(), 3, "disabled and arm64-only repositories are left out: {:?}", apt.sources);
    assert_eq!(apt.proxy.as_deref(), Some("http://proxy.example:3128/"));

    // The installer's copy (metadata API) carries the same apt section.
    let yaml_doc: Value = serde_norway::from_str(&r.body).unwrap();
    assert_eq!(yaml_doc["apt"]["sources"]["archive_key"]["key"], "ARCHIVE KEY");

    // Deployed and Failed deployment still answer.
    complete_deployment(&s, &sid).await;
    assert_eq!(s.get(Some(&admin), &format!("machines/{sid}/?op=get_curtin_config")).await.status, 200);
});

backend_tests!(restore_ops_rules_and_effects, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let sid = ready_machine_with_disks(&s, &admin, "restore-one", 2, 2048, vec![disk("sda", 100, false)]).await;
    let ops = [
        ("restore_networking_configuration", "restore networking configuration"),
        ("restore_storage_configuration", "restore storage configuration."),
        ("restore_default_configuration", "restore default networking and storage configuration."),
        ("clear_default_gateways", ""),
    ];
    // Administrators only; unknown machines 404.
    for (op, _) in ops {
        assert_eq!(s.post(Some(&user), &format!("machines/{sid}/?op={op}"), &[]).await.status, 403, "{op}");
        expect(&s.post(Some(&admin), &format!("machines/nosuch/?op={op}"), &[]).await, 404, "No Machine matches");
    }

    // Storage: a custom partition goes, the default (flat) layout returns.
    let sda = || async { device(&machine(&s, &admin, &sid).await, "sda").clone() };
    let flat = sda().await;
    assert_eq!(flat["partitions"][0]["filesystem"]["mount_point"], "/");
    let r =
        s.post(Some(&admin), &format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "blank")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let dev_id = flat["id"].as_i64().unwrap();
    let r = s
        .post(Some(&admin), &format!("nodes/{sid}/blockdevices/{dev_id}/partitions/"), &[("size", "5000000000")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let custom = sda().await;
    assert_eq!(custom["partitions"].as_array().unwrap().len(), 1);
    assert!(custom["partitions"][0]["filesystem"].is_null());
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=restore_storage_configuration"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["system_id"], sid, "answers the machine");
    let restored = device(&r.json(), "sda").clone();
    assert_eq!(restored["partitions"].as_array().unwrap().len(), 1);
    assert_eq!(restored["partitions"][0]["filesystem"]["mount_point"], "/");
    assert_ne!(restored["partitions"][0]["size"], 5_000_000_000i64);

    // Networking needs what commissioning reported; this machine has none.
    expect(
        &s.post(Some(&admin), &format!("machines/{sid}/?op=restore_networking_configuration"), &[]).await,
        409,
        "Missing network information from commissioning script, please commission the machine again",
    );

    // Outside Ready / Failed testing: 409 in MAAS's words.
    let r = s.post(Some(&admin), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (op, words) in ops.iter().filter(|(_, w)| !w.is_empty()) {
        let r = s.post(Some(&admin), &format!("machines/{sid}/?op={op}"), &[]).await;
        expect(&r, 409, &format!("Machine must be in a ready or failed testing state to {words}"));
    }
});

backend_tests!(restore_networking_resets_links_and_gateways, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let admin_row = s.state.db.run(|c| ironpool_region::db::users::by_username(c, "admin")).await.unwrap().unwrap();
    // A simulated machine: commissioning stores its inventory.
    let ids =
        ironpool_region::sim::ensure_machines(&s.state, &admin_row, &s.origin, 1, Duration::ZERO, None).await.unwrap();
    let sid = ids[0].clone();
    let m = wait_status(&s, &admin, &sid, "Ready").await;
    let boot = m["boot_interface"]["id"].as_i64().unwrap();
    let boot_name = m["boot_interface"]["name"].as_str().unwrap().to_string();
    let physical = m["interface_set"].as_array().unwrap().len();

    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.30.0.0/24"), ("gateway_ip", "10.30.0.1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let subnet = r.json()["id"].to_string();
    let link = format!("nodes/{sid}/interfaces/{boot}/?op=link_subnet");
    let r = s.post(Some(&admin), &link, &[("mode", "STATIC"), ("subnet", &subnet), ("ip_address", "10.30.0.50")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(Some(&admin), &format!("nodes/{sid}/interfaces/{boot}/?op=set_default_gateway"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let vlan = s.post(Some(&admin), "fabrics/0/vlans/", &[("vid", "42")]).await.json();
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{sid}/interfaces/?op=create_vlan"),
            &[("vlan", &vlan["id"].to_string()), ("parent", &boot.to_string())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(Some(&admin), "PUT", &format!("nodes/{sid}/interfaces/{boot}/"), &[("name", "renamed0")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = machine(&s, &admin, &sid).await;
    assert_eq!(m["interface_set"].as_array().unwrap().len(), physical + 1);
    assert_eq!(m["default_gateways"]["ipv4"]["gateway_ip"], "10.30.0.1");

    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=restore_networking_configuration"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    let ifaces = m["interface_set"].as_array().unwrap();
    assert_eq!(ifaces.len(), physical, "the VLAN interface is gone: {ifaces:?}");
    let b = ifaces.iter().find(|i| i["id"] == boot).unwrap();
    assert_eq!(b["name"], boot_name, "the name commissioning reported");
    let links = b["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["mode"], "auto");
    assert_eq!(links[0]["subnet"]["cidr"], "10.30.0.0/24");
    assert!(links[0].get("ip_address").is_none_or(|ip| ip != "10.30.0.50"), "{links:?}");
    // The gateway follows the new AUTO link.
    assert_eq!(m["default_gateways"]["ipv4"]["link_id"], links[0]["id"]);

    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=clear_default_gateways"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["default_gateways"]["ipv4"]["gateway_ip"], Value::Null);
    assert_eq!(r.json()["default_gateways"]["ipv4"]["link_id"], Value::Null);
    // Links stay: only the choice of gateway is cleared.
    let again = machine(&s, &admin, &sid).await;
    let b = again["interface_set"].as_array().unwrap().iter().find(|i| i["id"] == boot).unwrap().clone();
    assert_eq!(b["links"].as_array().unwrap().len(), 1);
});

/// The preseed URL the rack puts on the kernel command line of the deploying
/// machine with `mac`.
async fn preseed_url(s: &TestServer, mac: String) -> String {
    let action = s.state.db.run(move |c| ironpool_region::engine::metadata::boot_action(c, &mac)).await.unwrap();
    let ironpool_region::engine::metadata::BootAction::Ephemeral { preseed_path, .. } = action else {
        panic!("a deploying machine boots its ephemeral environment: {action:?}");
    };
    format!("{}/MAAS/metadata/{preseed_path}", s.origin)
}

/// An agent for the fake machine `n`, as the ephemeral environment runs it.
fn agent_for(n: u64) -> ironpool_agent::Agent {
    let inventory = ironpool_agent::inventory::fake(n);
    ironpool_agent::Agent {
        details: ironpool_agent::lshw::fake(n, &inventory),
        inventory,
        power_type: "manual".into(),
        power_parameters: json!({}),
        step_delay: Duration::ZERO,
        writes_disks: true,
        scripts: ironpool_agent::scripts::Mode::Simulated,
    }
}

backend_tests!(ephemeral_deploy_writes_no_disk, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sid = ready_machine(&s, &admin, "eph-one", 2, 2048).await;
    let mac = machine(&s, &admin, &sid).await["interface_set"][0]["mac_address"].as_str().unwrap().to_string();
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=deploy"), &[("ephemeral_deploy", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ephemeral_deploy"], true);

    // The boot the rack hands out: the machine's preseed says ephemeral.
    let url = preseed_url(&s, mac).await;
    let http = ironpool_agent::client::http_client();
    let preseed = ironpool_agent::client::fetch_text(&http, &url).await.unwrap();
    assert!(preseed.contains("ephemeral_deploy: \"true\""), "{preseed}");
    assert!(ironpool_agent::client::parse_preseed(&preseed).unwrap().ephemeral_deploy);

    // A simulated machine plays the image's first boot (a real one builds
    // the image's root in memory first: e2e_deploy_os).
    let agent = ironpool_agent::Agent { writes_disks: false, ..agent_for(77) };
    let outcome = agent.boot(&http, &url).await.unwrap();
    assert!(matches!(outcome, ironpool_agent::Outcome::Deployed { .. }), "{outcome:?}");
    let m = wait_status(&s, &admin, &sid, "Deployed").await;
    assert_eq!(m["netboot"], true, "an ephemeral deployment keeps booting from the network");
    // get_curtin_config still answers, flagged ephemeral, and says the
    // (never needed) image is missing instead of failing.
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=get_curtin_config")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc: Value = serde_norway::from_str(&r.body).unwrap();
    assert_eq!(doc["ironpool"]["ephemeral_deploy"], true);
    assert!(doc["ironpool"]["missing_image"].as_str().unwrap().contains("ubuntu/noble"), "{doc}");
    assert!(doc["apt"]["sources_list"].as_str().unwrap().contains("Types: deb\n"), "noble gets deb822: {doc}");
});

/// The install document's `storage` (curtin's version 1), checked for what
/// the model says and for dependency order: every operation comes after the
/// ones it names.
fn storage_ops(body: &str) -> Vec<Value> {
    let doc: Value = serde_norway::from_str(body).unwrap();
    assert_eq!(doc["storage"]["version"], 1, "{body}");
    let ops = doc["storage"]["config"].as_array().unwrap().clone();
    let mut seen: Vec<String> = Vec::new();
    for op in &ops {
        let mut needs: Vec<&str> = Vec::new();
        for k in ["device", "volume", "volgroup", "backing_device", "cache_device"] {
            needs.extend(op.get(k).and_then(Value::as_str));
        }
        for k in ["devices", "spare_devices"] {
            needs.extend(op.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str));
        }
        for n in needs {
            assert!(seen.iter().any(|s| s == n), "{} needs {n} first: {ops:#?}", op["id"]);
        }
        seen.push(op["id"].as_str().unwrap().to_string());
    }
    ops
}

/// The agent's installer plans the document's storage on a machine with
/// the disks the test machines were given (serial `QM-<name>`).
fn agent_plan(body: &str, disks: &[&str]) -> ironpool_agent::install_plan::Plan {
    let doc: Value = serde_norway::from_str(body).unwrap();
    let mut inv = ironpool_agent::inventory::fake(1);
    let template = inv.resources.storage.disks[0].clone();
    inv.resources.storage.disks = disks
        .iter()
        .map(|d| {
            let mut x = template.clone();
            x.id = d.to_string();
            x.serial = format!("QM-{d}");
            x.model = "QEMU HARDDISK".into();
            x
        })
        .collect();
    ironpool_agent::install_plan::plan(&doc["storage"], &inv, "/target")
        .unwrap_or_else(|e| panic!("the agent cannot plan the region's storage: {e}\n{body}"))
}

fn op<'a>(ops: &'a [Value], id: &str) -> &'a Value {
    ops.iter().find(|o| o["id"] == id).unwrap_or_else(|| panic!("no {id}: {ops:#?}"))
}

backend_tests!(curtin_storage_follows_the_storage_model, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let image: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    let fields = [("name", "custom/tiny"), ("architecture", "amd64/generic"), ("filetype", "ddraw")];
    assert_eq!(upload_boot_resource(&s, &admin, &fields, Some(image)).await.status, 201);
    let deploy = async |sid: &str| {
        let r = s
            .post(
                Some(&admin),
                &format!("machines/{sid}/?op=deploy"),
                &[("osystem", "custom"), ("distro_series", "tiny")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.get(Some(&admin), &format!("machines/{sid}/?op=get_curtin_config")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        (storage_ops(&r.body), agent_plan(&r.body, &["sda", "sdb"]))
    };

    // The LVM layout on the boot disk of a BIOS machine: an MBR table, one
    // partition as the physical volume, the volume group and its root
    // volume, its format, and a /srv filesystem on the second disk; mounts
    // last in path order.
    let sid =
        ready_machine_with_disks(&s, &admin, "lvm-one", 2, 2048, vec![disk("sda", 100, false), disk("sdb", 50, true)])
            .await;
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "lvm")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sdb = device(&machine(&s, &admin, &sid).await, "sdb")["id"].to_string();
    for (opn, form) in [("format", ("fstype", "xfs")), ("mount", ("mount_point", "/srv"))] {
        let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{sdb}/?op={opn}"), &[form]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let (ops, plan) = deploy(&sid).await;
    let steps: Vec<String> = plan.steps.iter().map(|s| s.argv.join(" ")).collect();
    assert!(steps.iter().any(|s| s.starts_with("vgcreate -y vgroot")), "{steps:#?}");
    assert!(steps.iter().any(|s| s.starts_with("mkfs.xfs") && s.ends_with("/dev/sdb")), "{steps:#?}");
    assert!(plan.fstab.contains("\t/\text4\t") && plan.fstab.contains("\t/srv\txfs\t"), "{}", plan.fstab);
    let sda = op(&ops, "sda");
    assert_eq!((sda["type"].as_str(), sda["ptable"].as_str()), (Some("disk"), Some("msdos")), "{sda}");
    assert_eq!((sda["serial"].as_str(), sda["grub_device"].as_bool()), (Some("QM-sda"), Some(true)), "{sda}");
    assert!(op(&ops, "sdb").get("grub_device").is_none() && op(&ops, "sdb").get("ptable").is_none());
    let p1 = op(&ops, "sda-part1");
    assert_eq!(
        (p1["number"].as_i64(), p1["offset"].as_str(), p1["device"].as_str()),
        (Some(1), Some("4194304B"), Some("sda"))
    );
    let vg = ops.iter().find(|o| o["type"] == "lvm_volgroup").unwrap();
    assert_eq!(vg["devices"], json!(["sda-part1"]), "{vg}");
    let lv = ops.iter().find(|o| o["type"] == "lvm_partition").unwrap();
    assert_eq!(lv["volgroup"], vg["id"]);
    assert!(lv["size"].as_str().unwrap().ends_with('B'));
    let lv_id = lv["id"].as_str().unwrap();
    assert_eq!(op(&ops, &format!("{lv_id}_format"))["fstype"], "ext4");
    let root = op(&ops, &format!("{lv_id}_mount"));
    assert_eq!((root["path"].as_str(), root["device"].as_str()), (Some("/"), Some(format!("{lv_id}_format").as_str())));
    let mounts: Vec<&str> = ops.iter().filter(|o| o["type"] == "mount").filter_map(|o| o["path"].as_str()).collect();
    assert_eq!(mounts, ["/", "/srv"], "mounts last, in path order");
    assert_eq!(op(&ops, "sdb_format")["fstype"], "xfs");
    assert_eq!(op(&ops, "sdb_mount")["device"], "sdb_format");
    assert!(ops.iter().rev().take(mounts.len()).all(|o| o["type"] == "mount"));

    // RAID 1 of two whole disks holding /: both disks get grub, the array
    // names them as its devices, its format and mount follow it.
    let sid = ready_machine_with_disks(
        &s,
        &admin,
        "raid-one",
        2,
        2048,
        vec![disk("sda", 100, false), disk("sdb", 100, false)],
    )
    .await;
    let r =
        s.post(Some(&admin), &format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "blank")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = machine(&s, &admin, &sid).await;
    let (a, b2) = (device(&m, "sda")["id"].to_string(), device(&m, "sdb")["id"].to_string());
    let r = s
        .post(
            Some(&admin),
            &format!("nodes/{sid}/raids/"),
            &[("level", "raid-1"), ("block_devices", &a), ("block_devices", &b2)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let md = r.json()["virtual_device"]["id"].to_string();
    for (opn, form) in [("format", ("fstype", "ext4")), ("mount", ("mount_point", "/"))] {
        let r = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{md}/?op={opn}"), &[form]).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let (ops, plan) = deploy(&sid).await;
    let steps: Vec<String> = plan.steps.iter().map(|s| s.argv.join(" ")).collect();
    assert!(
        steps.iter().any(|s| s.starts_with(
            "mdadm --create /dev/md/md0 --run --metadata=1.2 --level=1 --raid-devices=2 /dev/sda /dev/sdb"
        )),
        "{steps:#?}"
    );
    let raid = ops.iter().find(|o| o["type"] == "raid").unwrap();
    assert_eq!((raid["raidlevel"].as_i64(), &raid["devices"]), (Some(1), &json!(["sda", "sdb"])), "{raid}");
    assert_eq!(op(&ops, "sda")["grub_device"], true);
    assert_eq!(op(&ops, "sdb")["grub_device"], true);
    let name = raid["id"].as_str().unwrap();
    assert_eq!(op(&ops, &format!("{name}_mount"))["path"], "/");
});

// The install document's `network`: cloud-init's version 1 from the
// interface model (a bond of two NICs with a static address, the default
// gateway, DNS and a route; a VLAN on the bond with DHCP), parents first.
backend_tests!(curtin_network_follows_the_interface_model, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let image: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    let fields = [("name", "custom/tiny"), ("architecture", "amd64/generic"), ("filetype", "ddraw")];
    assert_eq!(upload_boot_resource(&s, &admin, &fields, Some(image)).await.status, 201);
    let sid = ready_machine_with_disks(&s, &admin, "net-one", 2, 2048, vec![disk("sda", 100, false)]).await;
    let base = format!("nodes/{sid}/interfaces/");
    let post = async |url: &str, form: &[(&str, &str)]| {
        let r = s.post(Some(&admin), url, form).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        r.json()
    };
    let m = machine(&s, &admin, &sid).await;
    let eth0 = m["interface_set"][0]["id"].to_string();
    let eth0_name = m["interface_set"][0]["name"].as_str().unwrap().to_string();
    let eth1 =
        post(&format!("{base}?op=create_physical"), &[("name", "eth9"), ("mac_address", "52:54:00:ee:00:09")]).await;
    let eth1 = eth1["id"].to_string();
    let net =
        post("subnets/", &[("cidr", "10.60.0.0/24"), ("gateway_ip", "10.60.0.1"), ("dns_servers", "10.60.0.53")]).await;
    let far = post("subnets/", &[("cidr", "10.62.0.0/24")]).await;
    post(
        "static-routes/",
        &[("source", &net["id"].to_string()), ("destination", &far["id"].to_string()), ("gateway_ip", "10.60.0.254")],
    )
    .await;
    let bond = post(
        &format!("{base}?op=create_bond"),
        &[
            ("name", "bond0"),
            ("parents", &eth0),
            ("parents", &eth1),
            ("bond_mode", "active-backup"),
            ("bond_num_grat_arp", "3"),
            ("bond_lacp_rate", "fast"),
            ("mtu", "9000"),
        ],
    )
    .await;
    let bond_id = bond["id"].to_string();
    post(
        &format!("{base}{bond_id}/?op=link_subnet"),
        &[("mode", "STATIC"), ("subnet", &net["id"].to_string()), ("ip_address", "10.60.0.10")],
    )
    .await;
    post(&format!("{base}{bond_id}/?op=set_default_gateway"), &[]).await;
    let vlan = post("fabrics/0/vlans/", &[("vid", "77")]).await;
    let vnet = post("subnets/", &[("cidr", "10.61.0.0/24"), ("vlan", &vlan["id"].to_string())]).await;
    let v = post(&format!("{base}?op=create_vlan"), &[("vlan", &vlan["id"].to_string()), ("parent", &bond_id)]).await;
    post(&format!("{base}{}/?op=link_subnet", v["id"]), &[("mode", "DHCP"), ("subnet", &vnet["id"].to_string())]).await;

    let r = s
        .post(Some(&admin), &format!("machines/{sid}/?op=deploy"), &[("osystem", "custom"), ("distro_series", "tiny")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=get_curtin_config")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc: Value = serde_norway::from_str(&r.body).unwrap();
    assert_eq!(doc["network"]["version"], 1, "{}", r.body);
    let cfg = doc["network"]["config"].as_array().unwrap().clone();
    let pos = |name: &str| cfg.iter().position(|e| e["name"] == name).unwrap_or_else(|| panic!("no {name}: {cfg:#?}"));
    let vname = v["name"].as_str().unwrap();
    assert!(pos(&eth0_name) < pos("bond0") && pos("eth9") < pos("bond0") && pos("bond0") < pos(vname), "{cfg:#?}");
    let e9 = &cfg[pos("eth9")];
    assert_eq!((e9["type"].as_str(), e9["mac_address"].as_str()), (Some("physical"), Some("52:54:00:ee:00:09")));
    let b0 = &cfg[pos("bond0")];
    assert_eq!(b0["type"], "bond");
    let mut members: Vec<&str> = b0["bond_interfaces"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    members.sort();
    let mut want = vec![eth0_name.as_str(), "eth9"];
    want.sort();
    assert_eq!(members, want);
    assert_eq!(b0["params"]["bond-mode"], "active-backup", "{b0}");
    assert_eq!(b0["params"]["bond-num-grat-arp"].to_string().trim_matches('"'), "3", "active-backup keeps it: {b0}");
    assert!(b0["params"].get("bond-lacp-rate").is_none(), "lacp-rate only for 802.3ad: {b0}");
    assert_eq!(b0["mtu"], 9000);
    let sub = &b0["subnets"][0];
    assert_eq!((sub["type"].as_str(), sub["address"].as_str()), (Some("static"), Some("10.60.0.10/24")), "{b0}");
    assert_eq!(sub["gateway"], "10.60.0.1");
    assert_eq!(sub["dns_nameservers"], json!(["10.60.0.53"]));
    assert_eq!(sub["routes"][0]["destination"], "10.62.0.0/24");
    assert_eq!(sub["routes"][0]["gateway"], "10.60.0.254");
    let vl = &cfg[pos(vname)];
    assert_eq!(
        (vl["type"].as_str(), vl["vlan_link"].as_str(), vl["vlan_id"].as_i64()),
        (Some("vlan"), Some("bond0"), Some(77))
    );
    assert_eq!(vl["subnets"], json!([{"type": "dhcp4"}]));
    let last = cfg.last().unwrap();
    assert_eq!((last["type"].as_str(), &last["address"]), (Some("nameserver"), &json!(["10.60.0.53"])), "{last}");
});

backend_tests!(ephemeral_deploy_without_an_image_fails_saying_so, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let sid = ready_machine(&s, &admin, "eph-two", 2, 2048).await;
    let mac = machine(&s, &admin, &sid).await["interface_set"][0]["mac_address"].as_str().unwrap().to_string();
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=deploy"), &[("ephemeral_deploy", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = preseed_url(&s, mac).await;
    let http = ironpool_agent::client::http_client();
    // A real machine reads the installation document before it touches
    // anything; with no image to run, the deployment fails with the
    // region's reason instead of hanging until the timeout.
    let e = agent_for(78).boot(&http, &url).await.unwrap_err();
    assert!(e.to_string().contains("No deployable amd64 image named ubuntu/noble"), "{e}");
    let m = wait_status(&s, &admin, &sid, "Failed deployment").await;
    assert!(m["error_description"].as_str().unwrap_or("").contains("No deployable"), "{m}");
});
