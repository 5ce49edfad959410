//! Hardware details and XPath tags over HTTP: commissioning signals carry
//! lshw and LLDP documents (`maas-lshw.out`, `maas-capture-lldpd.out`),
//! `details` serves them back as MAAS's BSON, and tags with definitions
//! follow them (on create, on definition change, on `rebuild`, after each
//! commissioning), evaluated MAAS's way over the merged document.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::Duration;

use common::*;
use ironpool_agent::{inventory, lshw};
use ironpool_common::inventory::{Inventory, COMMISSIONING_SCRIPT, LLDP_SCRIPT, LSHW_SCRIPT};

const LLDP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<lldp label="LLDP neighbors">
 <interface label="Interface" name="eno1" via="LLDP" rid="1" age="0 day, 00:01:02">
  <chassis label="Chassis">
   <id label="ChassisID" type="mac">0c:42:a1:00:00:01</id>
   <name label="SysName">switch-1</name>
  </chassis>
  <port label="Port">
   <id label="PortID" type="ifname">swp7</id>
  </port>
 </interface>
</lldp>
"#;

fn signal_form(files: &[(String, Vec<u8>)]) -> reqwest::multipart::Form {
    let mut f = reqwest::multipart::Form::new()
        .text("status", "OK")
        .text("exit_status", "0")
        .text("name", COMMISSIONING_SCRIPT);
    for (name, data) in files {
        f = f.part(name.clone(), reqwest::multipart::Part::bytes(data.clone()).file_name(name.clone()));
    }
    f
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

/// Commissions `sid` as its agent would: one OK signal with the inventory
/// and, when given, the lshw and LLDP documents.
async fn commission(s: &TestServer, admin: &ApiKey, sid: &str, inv: &Inventory, details: Option<(&[u8], &[u8])>) {
    let key = node_key(s, admin, sid).await;
    let mut files = vec![(format!("{COMMISSIONING_SCRIPT}.out"), serde_json::to_vec(inv).unwrap())];
    if let Some((lshw, lldp)) = details {
        files.push((format!("{LSHW_SCRIPT}.out"), lshw.to_vec()));
        files.push((format!("{LLDP_SCRIPT}.out"), lldp.to_vec()));
    }
    let r = post_form_as(format!("{}/MAAS/metadata/latest/?op=signal", s.origin), &key, signal_form(&files)).await;
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    let m = machine(s, admin, sid).await;
    assert_eq!(m["status_name"], "Ready", "{}", m["status_message"]);
}

/// An inventory for machine `seed` whose NIC has `mac` and whose disks are
/// all `disk_bytes` big.
fn inventory_with(seed: u64, mac: &str, disk_bytes: u64) -> Inventory {
    let mut inv = inventory::fake(seed);
    inv.resources.network.cards.truncate(1);
    inv.resources.network.cards[0].ports[0].address = mac.into();
    for d in &mut inv.resources.storage.disks {
        d.size = disk_bytes;
    }
    inv
}

/// A BSON document of binary fields, decoded (what python-libmaas and
/// gomaasapi do with `details`): name → bytes; `None` for a null field.
fn decode_bson(doc: &[u8]) -> Vec<(String, Option<Vec<u8>>)> {
    let len = i32::from_le_bytes(doc[..4].try_into().unwrap()) as usize;
    assert_eq!(len, doc.len(), "the length prefix covers the document");
    assert_eq!(doc[len - 1], 0);
    let mut out = Vec::new();
    let mut i = 4;
    while doc[i] != 0 {
        let kind = doc[i];
        let end = i + 1 + doc[i + 1..].iter().position(|b| *b == 0).unwrap();
        let name = String::from_utf8(doc[i + 1..end].to_vec()).unwrap();
        i = end + 1;
        match kind {
            0x05 => {
                let n = i32::from_le_bytes(doc[i..i + 4].try_into().unwrap()) as usize;
                assert_eq!(doc[i + 4], 0, "generic binary subtype");
                out.push((name, Some(doc[i + 5..i + 5 + n].to_vec())));
                i += 5 + n;
            }
            0x0A => out.push((name, None)),
            k => panic!("unexpected BSON element type {k:#x}"),
        }
    }
    assert_eq!(i, len - 1);
    out
}

async fn details(s: &TestServer, who: &ApiKey, path: &str) -> Vec<(String, Option<Vec<u8>>)> {
    let r = client()
        .get(s.api(&format!("{path}?op=details")))
        .header("Authorization", who.plaintext())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/bson");
    decode_bson(&r.bytes().await.unwrap())
}

fn field<'a>(d: &'a [(String, Option<Vec<u8>>)], name: &str) -> &'a [u8] {
    d.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref()).unwrap_or_else(|| panic!("no {name} in {d:?}"))
}

/// system_ids the tag is on, sorted.
async fn tagged(s: &TestServer, admin: &ApiKey, tag: &str) -> Vec<String> {
    let r = s.get(Some(admin), &format!("tags/{tag}/?op=machines")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ids: Vec<String> =
        r.json().as_array().unwrap().iter().map(|m| m["system_id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

backend_tests!(details_and_xpath_tags, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    // big: 2 TB disks and an LLDP neighbour; small: 500 MB disks, no
    // neighbours; bare: commissioned without details.
    let big = commissioning_machine(&s, &admin, "52:54:00:d0:00:01", "big").await;
    let small = commissioning_machine(&s, &admin, "52:54:00:d0:00:02", "small").await;
    let bare = commissioning_machine(&s, &admin, "52:54:00:d0:00:03", "bare").await;
    let big_inv = inventory_with(11, "52:54:00:d0:00:01", 2_000_000_000_000);
    let big_lshw = lshw::fake(11, &big_inv).lshw;
    commission(&s, &admin, &big, &big_inv, Some((&big_lshw, LLDP.as_bytes()))).await;
    let mut small_inv = inventory_with(12, "52:54:00:d0:00:02", 500_000_000);
    small_inv.resources.storage.disks[0].removable = true;
    let small_details = lshw::fake(12, &small_inv);
    commission(&s, &admin, &small, &small_inv, Some((&small_details.lshw, &small_details.lldp))).await;
    commission(&s, &admin, &bare, &inventory_with(13, "52:54:00:d0:00:03", 500_000_000), None).await;

    // Inventory fields: MAAS's disk tags, hardware_info from the lshw
    // system, board and firmware (a vendor's placeholder is Unknown).
    let disks = s.get(Some(&admin), &format!("nodes/{big}/blockdevices/")).await.json();
    for (got, want) in disks.as_array().unwrap().iter().zip(&big_inv.resources.storage.disks) {
        let want_tags: Vec<String> =
            if want.rpm > 0 { vec!["rotary".into(), format!("{}rpm", want.rpm)] } else { vec!["ssd".into()] };
        assert_eq!(got["tags"], serde_json::json!(want_tags), "{got}");
    }
    let disks = s.get(Some(&admin), &format!("nodes/{small}/blockdevices/")).await.json();
    assert!(disks[0]["tags"].as_array().unwrap().iter().any(|t| t == "removable"), "{}", disks[0]);
    let info = machine(&s, &admin, &big).await["hardware_info"].clone();
    assert_eq!(info["system_vendor"], "Supermicro", "{info}");
    assert_eq!(info["system_product"], "SYS-1029P-WTR");
    assert_eq!(info["system_serial"], "S000000011");
    assert_eq!(info["system_version"], "Unknown");
    assert_eq!(info["mainboard_product"], "X11DDW-L");
    assert_eq!(info["mainboard_firmware_vendor"], "American Megatrends Inc.");
    assert_eq!(info["mainboard_firmware_date"], "10/18/2021");
    assert_eq!(info["cpu_model"], big_inv.resources.cpu.sockets[0].name);
    assert_eq!(machine(&s, &admin, &bare).await["hardware_info"]["system_vendor"], "Unknown");

    // details: the very bytes the machine sent, for any user who sees it.
    let d = details(&s, &alice, &format!("machines/{big}/")).await;
    assert_eq!(field(&d, "lshw"), big_lshw.as_slice());
    assert_eq!(field(&d, "lldp"), LLDP.as_bytes());
    assert_eq!(
        details(&s, &admin, &format!("nodes/{small}/")).await,
        details(&s, &admin, &format!("machines/{small}/")).await
    );
    // Nothing reported: the empty documents, never null.
    let d = details(&s, &admin, &format!("machines/{bare}/")).await;
    assert!(String::from_utf8_lossy(field(&d, "lshw")).contains("<list>"));
    assert!(String::from_utf8_lossy(field(&d, "lldp")).contains("<lldp"));
    let r = s.get(Some(&admin), "machines/nosuch/?op=details").await;
    assert_eq!(r.status, 404);

    // Tags with definitions, evaluated on create.
    let create = |name: &'static str, def: &'static str| {
        let s = &s;
        let admin = &admin;
        async move {
            let r = s.post(Some(admin), "tags/", &[("name", name), ("definition", def)]).await;
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(r.json()["definition"], def);
        }
    };
    create("big-disk", r#"//node[@class="disk"]/size > 1000000000"#).await;
    assert_eq!(tagged(&s, &admin, "big-disk").await, sorted(&[&big]));
    create("gpu", r#"//node[@class="display"]"#).await;
    assert_eq!(tagged(&s, &admin, "gpu").await, Vec::<String>::new());
    // The LLDP neighbours under lldp:, the lshw copy under lshw:.
    create("on-switch-1", r#"//lldp:chassis/lldp:name = "switch-1""#).await;
    assert_eq!(tagged(&s, &admin, "on-switch-1").await, sorted(&[&big]));
    create("supermicro", r#"/list/lshw:list/lshw:node[@class="system"]/lshw:vendor = "Supermicro""#).await;
    assert_eq!(tagged(&s, &admin, "supermicro").await, sorted(&[&big, &small]));
    // A definition true of any document matches nodes without details too.
    create("everything", "true()").await;
    assert_eq!(tagged(&s, &admin, "everything").await, sorted(&[&big, &small, &bare]));
    // The tag shows on the machine.
    let tags = machine(&s, &admin, &big).await["tag_names"].clone();
    assert!(tags.as_array().unwrap().iter().any(|t| t == "big-disk"), "{tags}");

    // Invalid XPath: MAAS's field error with libxml2's reason; nothing made.
    let r = s.post(Some(&admin), "tags/", &[("name", "broken"), ("definition", "//node[@class=")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = r.json()["definition"][0].as_str().unwrap().to_string();
    assert!(msg.starts_with("Invalid xpath expression: "), "{msg}");
    assert_eq!(s.get(Some(&admin), "tags/broken/").await.status, 404);
    let r = s.call(Some(&admin), "PUT", "tags/gpu/", &[("definition", "//node[@class=\"disk\"]/")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["definition"][0].as_str().unwrap().starts_with("Invalid xpath expression: "));
    assert_eq!(s.get(Some(&admin), "tags/gpu/").await.json()["definition"], r#"//node[@class="display"]"#);

    let def = r#"//node[@class="disk"]/size > 1000000000"#;
    // update_nodes on a defined tag: MAAS takes it (a definition, when
    // given, must match the current one: 409 otherwise); rebuild undoes it.
    let r = s
        .post(Some(&admin), "tags/big-disk/?op=update_nodes", &[("add", bare.as_str()), ("definition", "//other")])
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.starts_with("Definition supplied '//other' doesn't match"), "{}", r.body);
    assert_eq!(tagged(&s, &admin, "big-disk").await, sorted(&[&big]));
    let r = s.post(Some(&admin), "tags/big-disk/?op=update_nodes", &[("add", bare.as_str())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["added"], 1);
    // The matching definition is accepted too (MAAS's workers sent it).
    let r =
        s.post(Some(&admin), "tags/big-disk/?op=update_nodes", &[("add", bare.as_str()), ("definition", def)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["added"], 1, "MAAS counts the nodes named, tagged before or not");
    assert_eq!(tagged(&s, &admin, "big-disk").await, sorted(&[&big, &bare]));
    let r = s.post(Some(&admin), "tags/big-disk/?op=rebuild", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rebuilding"], "big-disk");
    assert_eq!(tagged(&s, &admin, "big-disk").await, sorted(&[&big]));
    // Manual tags still take update_nodes.
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "manual")]).await.status, 200);
    let r = s.post(Some(&admin), "tags/manual/?op=update_nodes", &[("add", bare.as_str())]).await;
    assert_eq!(r.json()["added"], 1);

    // A new definition re-evaluates.
    let r =
        s.call(Some(&admin), "PUT", "tags/big-disk/", &[("definition", r#"//node[@class="disk"]/size > 100"#)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tagged(&s, &admin, "big-disk").await, sorted(&[&big, &small]));
    let r = s.call(Some(&admin), "PUT", "tags/big-disk/", &[("definition", def)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(tagged(&s, &admin, "big-disk").await, sorted(&[&big]));

    // Commissioning again with other hardware re-evaluates that node.
    let r = s.post(Some(&admin), &format!("machines/{small}/?op=commission"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let grown = inventory_with(12, "52:54:00:d0:00:02", 4_000_000_000_000);
    let grown_details = lshw::fake(12, &grown);
    commission(&s, &admin, &small, &grown, Some((&grown_details.lshw, LLDP.as_bytes()))).await;
    assert_eq!(tagged(&s, &admin, "big-disk").await, sorted(&[&big, &small]));
    assert_eq!(tagged(&s, &admin, "on-switch-1").await, sorted(&[&big, &small]));
    let d = details(&s, &admin, &format!("machines/{small}/")).await;
    assert_eq!(field(&d, "lshw"), grown_details.lshw.as_slice());
});

backend_tests!(simulated_machine_reports_details, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let r = s
        .post(
            Some(&admin),
            "tags/",
            &[("name", "supermicro"), ("definition", r#"//node[@class="system"]/vendor = "Supermicro""#)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A machine the region has never heard of, switched on: it enlists and
    // commissions through the real agent library.
    let seed = 4343;
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
    let want = lshw::fake(seed, &inventory::fake(seed));
    let d = details(&s, &admin, &format!("machines/{sid}/")).await;
    assert_eq!(field(&d, "lshw"), want.lshw.as_slice());
    assert_eq!(field(&d, "lldp"), want.lldp.as_slice());
    assert_eq!(tagged(&s, &admin, "supermicro").await, vec![sid]);
});
