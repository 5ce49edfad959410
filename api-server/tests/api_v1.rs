//! The API 1.0 node calls as Chef drives them (knife-maas 1.x,
//! chef-provisioning-maas), signed by an independent OAuth implementation
//! (the `oauth1-request` crate, PLAINTEXT as the Ruby `oauth` gem sends it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use oauth1_request as oauth;
use serde_json::Value;

#[derive(oauth::Request)]
struct NoParams {}

fn sign(k: &ApiKey, method: &str, url: &str) -> String {
    let token = oauth::Token::from_parts(k.consumer.clone(), String::new(), k.token.clone(), k.secret.clone());
    let mut b = oauth::Builder::with_token(token, oauth::PLAINTEXT);
    b.version(false);
    b.authorize(method, url, &NoParams {})
}

async fn chef(s: &TestServer, k: &ApiKey, method: &str, path: &str, body: &str) -> Resp {
    let url = format!("{}{path}", s.origin);
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    // PLAINTEXT signs no URL parts; the signer only wants the URL without its query.
    let bare = url.split('?').next().unwrap();
    let mut rb = client().request(m, &url).header("authorization", sign(k, method, bare));
    if !body.is_empty() {
        rb = rb.header("content-type", "application/x-www-form-urlencoded").body(body.to_string());
    }
    read(rb.send().await.unwrap()).await
}

backend_tests!(chef_flow, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let chef_user = s.user("chef", false).await;
    let sid = ready_machine(&s, &admin, "chef-node", 4, 4096).await;
    s.post(Some(&admin), "zones/", &[("name", "zone2")]).await;
    s.post(Some(&admin), "machines/?op=set_zone", &[("zone", "zone2"), ("nodes", &sid)]).await;

    // chef-provisioning-maas: acquire with op in the body, through a doubled slash.
    let r = chef(&s, &chef_user, "POST", "/MAAS/api/1.0//nodes/", "op=acquire&zone=zone2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let n = r.json();
    assert_eq!(n["system_id"], sid.as_str());
    assert_eq!(n["hostname"], "chef-node.maas", "1.0 hostname is the FQDN");
    assert_eq!(n["status"], 6, "folded");
    assert_eq!(n["substatus"], 10, "real status: Allocated");
    assert_eq!(n["owner"], "chef");
    assert_eq!(n["resource_uri"], format!("/MAAS/api/1.0/nodes/{sid}/"));
    assert!(n["macaddress_set"][0]["mac_address"].is_string());
    assert!(n["constraint_map"].is_object());

    // Nothing left: 1.0 wording.
    let r = chef(&s, &chef_user, "POST", "/MAAS/api/1.0/nodes/", "op=acquire").await;
    assert_eq!((r.status, r.body.as_str()), (409, "No node available."));

    // knife: list and show-one.
    let r = chef(&s, &chef_user, "GET", "/MAAS/api/1.0/nodes/?op=list", "").await;
    let l = r.json();
    assert_eq!(l.as_array().unwrap().len(), 1);
    assert_eq!(l[0]["substatus"], 10);
    let r = chef(&s, &chef_user, "GET", &format!("/MAAS/api/1.0/nodes/?op=list&id={sid}"), "").await;
    assert_eq!(r.json()[0]["system_id"], sid.as_str());

    // start (op in the body) with user_data deploys an allocated node.
    let r = chef(
        &s,
        &chef_user,
        "POST",
        &format!("/MAAS/api/1.0//nodes/{sid}/"),
        "op=start&user_data=IyEvYmluL3NoCg%3D%3D&distro_series=jammy",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let n = r.json();
    assert_eq!(n["substatus"], 9, "Deploying");
    assert_eq!(n["distro_series"], "jammy");
    assert_eq!(n["netboot"], true);
    // The OS reports success; Chef waits for netboot=false and power_state=on.
    complete_deployment(&s, &sid).await;
    let n = chef(&s, &chef_user, "GET", &format!("/MAAS/api/1.0//nodes/{sid}/"), "").await.json();
    assert_eq!(
        (n["netboot"].clone(), n["power_state"].clone(), n["substatus"].clone()),
        (Value::Bool(false), Value::from("on"), Value::from(6))
    );

    // details: BSON whose values are XML blobs.
    let r = client()
        .get(format!("{}/MAAS/api/1.0/nodes/{sid}/?op=details", s.origin))
        .header("authorization", sign(&chef_user, "GET", &format!("{}/MAAS/api/1.0/nodes/{sid}/", s.origin)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/bson");
    let doc = r.bytes().await.unwrap();
    assert_eq!(i32::from_le_bytes([doc[0], doc[1], doc[2], doc[3]]) as usize, doc.len());
    assert_eq!(doc[4], 0x05, "first value is binary");
    assert!(String::from_utf8_lossy(&doc).contains("<list>"));

    // stop, then release (op in the body) returns the node JSON.
    let r = chef(&s, &chef_user, "POST", &format!("/MAAS/api/1.0/nodes/{sid}/?op=stop"), "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = chef(&s, &chef_user, "POST", &format!("/MAAS/api/1.0//nodes/{sid}/"), "op=release").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["substatus"], 4);
    assert_eq!(r.json()["owner"], Value::Null);

    // start on an unallocated node: MAAS's 409.
    let r = chef(&s, &chef_user, "POST", &format!("/MAAS/api/1.0/nodes/{sid}/?op=start"), "").await;
    assert_eq!((r.status, r.body.as_str()), (409, "Can't start node: it hasn't been allocated."));
    // bulk release with unknown ids: 1.0 wording.
    let r = chef(&s, &chef_user, "POST", "/MAAS/api/1.0/nodes/?op=release", "nodes=nope12").await;
    assert_eq!((r.status, r.body.as_str()), (400, "Unknown node(s): nope12."));
    // Unsigned: MAAS's anonymous-routing 400 on GET, 401 on POST; bad signature: 401.
    assert_eq!(
        read(client().get(format!("{}/MAAS/api/1.0/nodes/?op=list", s.origin)).send().await.unwrap()).await.status,
        400
    );
    assert_eq!(
        read(client().post(format!("{}/MAAS/api/1.0/nodes/?op=acquire", s.origin)).send().await.unwrap()).await.status,
        401
    );
    let bad = ApiKey { secret: "wrong".into(), ..chef_user.clone() };
    assert_eq!(chef(&s, &bad, "GET", "/MAAS/api/1.0/nodes/?op=list", "").await.status, 401);

    // knife-maas 1.x deletes with POST op=delete (admin).
    let r = chef(&s, &admin, "POST", &format!("/MAAS/api/1.0/nodes/{sid}/?op=delete"), "").await;
    assert_eq!(r.status, 204);
    assert_eq!(chef(&s, &admin, "GET", &format!("/MAAS/api/1.0/nodes/{sid}/"), "").await.status, 404);
    // Unknown 1.0 paths are MAAS's catch-all 404.
    assert_eq!(chef(&s, &admin, "GET", "/MAAS/api/1.0/nodegroups/", "").await.status, 404);
});
