//! Zones, resource pools, tags and the nodes/ collection.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use serde_json::json;

backend_tests!(zones_pools_tags, |b| async move {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;

    // Zones: default exists; CRUD is admin-only; everyone reads.
    let z = s.get(Some(&user), "zones/").await.json();
    assert_eq!(
        z,
        json!([{"id": 1, "name": "default", "description": "", "resource_uri": "/MAAS/api/2.0/zones/default/"}])
    );
    assert_eq!(s.post(Some(&user), "zones/", &[("name", "az1")]).await.status, 403);
    assert_eq!(s.get(None, "zones/").await.status, 401);
    let r = s.post(Some(&admin), "zones/", &[("name", "az1"), ("description", "rack row 1")]).await;
    assert_eq!(r.json()["resource_uri"], "/MAAS/api/2.0/zones/az1/");
    assert_eq!(s.post(Some(&admin), "zones/", &[("name", "az1")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "zones/", &[("name", "bad name")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "zones/", &[]).await.json()["name"][0], "This field is required.");
    assert_eq!(s.get(Some(&user), "zones/az1/").await.json()["description"], "rack row 1");
    let r = s.call(Some(&admin), "PUT", "zones/az1/", &[("name", "az2")]).await;
    assert_eq!(r.json()["name"], "az2");
    assert_eq!(s.get(Some(&user), "zones/az1/").await.status, 404);
    let sid = ready_machine(&s, &admin, "zoned", 1, 1024).await;
    assert_eq!(s.post(Some(&admin), "nodes/?op=set_zone", &[("zone", "az2"), ("nodes", &sid)]).await.status, 200);
    assert_eq!(s.post(Some(&user), "nodes/?op=set_zone", &[("zone", "az2"), ("nodes", &sid)]).await.status, 403);
    assert_eq!(s.post(Some(&admin), "nodes/?op=set_zone", &[("zone", "az2"), ("nodes", "nope12")]).await.status, 400);
    assert_eq!(s.get(Some(&admin), &format!("machines/{sid}/")).await.json()["zone"]["name"], "az2");
    // Deleting a zone moves its machines to the default zone.
    assert_eq!(s.call(Some(&admin), "DELETE", "zones/az2/", &[]).await.status, 204);
    assert_eq!(s.get(Some(&admin), &format!("machines/{sid}/")).await.json()["zone"]["name"], "default");
    let r = s.call(Some(&admin), "DELETE", "zones/default/", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (400, "This zone is the default zone, it cannot be deleted."));

    // Every list read pages with limit/cursor (Ironpool extension).
    for z in ["p1", "p2", "p3"] {
        s.post(Some(&admin), "zones/", &[("name", z)]).await;
    }
    let r = s.get(Some(&user), "zones/?limit=3").await;
    assert_eq!(r.json().as_array().unwrap().len(), 3);
    let link = r.headers["link"].to_str().unwrap();
    let next = link.split('<').nth(1).unwrap().split('>').next().unwrap().to_string();
    let r2 = read(client().get(&next).header("authorization", user.plaintext()).send().await.unwrap()).await;
    assert_eq!(
        r2.json(),
        json!([{"id": r2.json()[0]["id"], "name": "p3", "description": "", "resource_uri": "/MAAS/api/2.0/zones/p3/"}])
    );
    assert!(r2.headers.get("link").is_none());
    assert_eq!(s.get(Some(&user), "zones/?limit=0").await.status, 400);
    assert_eq!(s.get(Some(&user), "tags/?cursor=bogus").await.status, 400);
    for z in ["p1", "p2", "p3"] {
        s.call(Some(&admin), "DELETE", &format!("zones/{z}/"), &[]).await;
    }

    // Pools: plural collection, singular item by id or name; pools/ does not exist.
    let p = s.get(Some(&user), "resourcepools/").await.json();
    assert_eq!(
        p[0],
        json!({"id": 0, "name": "default", "description": "Default pool", "resource_uri": "/MAAS/api/2.0/resourcepool/0/"})
    );
    let r = s.get(Some(&user), "pools/").await;
    assert_eq!((r.status, r.body.as_str()), (404, "Unknown API endpoint: /MAAS/api/2.0/pools/."));
    let r = s.post(Some(&admin), "resourcepools/", &[("name", "gpu"), ("description", "GPUs")]).await;
    let gid = r.json()["id"].as_i64().unwrap();
    assert_eq!(s.get(Some(&user), &format!("resourcepool/{gid}/")).await.json()["name"], "gpu");
    assert_eq!(s.get(Some(&user), "resourcepool/gpu/").await.json()["id"], gid);
    assert_eq!(s.get(Some(&user), "resourcepool/999/").await.body, "No ResourcePool matches the given query.");
    assert_eq!(
        s.call(Some(&admin), "PUT", "resourcepool/gpu/", &[("description", "accelerators")]).await.json()
            ["description"],
        "accelerators"
    );
    assert_eq!(s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[("pool", "gpu")]).await.status, 200);
    assert_eq!(s.call(Some(&admin), "DELETE", "resourcepool/gpu/", &[]).await.status, 400, "has machines");
    assert_eq!(s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[("pool", "default")]).await.status, 200);
    assert_eq!(s.call(Some(&user), "DELETE", "resourcepool/gpu/", &[]).await.status, 403);
    assert_eq!(s.call(Some(&admin), "DELETE", "resourcepool/gpu/", &[]).await.status, 204);
    assert_eq!(s.call(Some(&admin), "DELETE", "resourcepool/0/", &[]).await.status, 400);

    // Tags: kernel_opts never null; manual tags via update_nodes.
    let r = s.post(Some(&admin), "tags/", &[("name", "ssd"), ("comment", "fast disks")]).await;
    assert_eq!(
        r.json(),
        json!({"name": "ssd", "definition": "", "comment": "fast disks", "kernel_opts": "", "resource_uri": "/MAAS/api/2.0/tags/ssd/"})
    );
    assert_eq!(s.post(Some(&user), "tags/", &[("name", "x")]).await.status, 403);
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "ssd")]).await.status, 400);
    // Definitions are XPath: a broken one is a 400, a valid one a tag.
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "xp"), ("definition", "//node[")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "tags/", &[("name", "xp"), ("definition", "//node")]).await.status, 200);
    assert_eq!(s.call(Some(&admin), "DELETE", "tags/xp/", &[]).await.status, 204);
    let r = s.post(Some(&admin), "tags/ssd/?op=update_nodes", &[("add", &sid)]).await;
    assert_eq!(r.json(), json!({"added": 1, "removed": 0}));
    // MAAS counts the nodes named, already tagged or not.
    let r = s.post(Some(&admin), "tags/ssd/?op=update_nodes", &[("add", &sid)]).await;
    assert_eq!(r.json(), json!({"added": 1, "removed": 0}));
    assert_eq!(s.post(Some(&admin), "tags/ssd/?op=update_nodes", &[("add", "nope12")]).await.status, 400);
    assert_eq!(s.post(Some(&admin), "tags/ssd/?op=update_nodes", &[("definition", "//other")]).await.status, 409);
    assert_eq!(s.get(Some(&user), &format!("machines/{sid}/")).await.json()["tag_names"], json!(["ssd"]));
    let tagged = s.get(Some(&user), "tags/ssd/?op=machines").await.json();
    assert_eq!(tagged[0]["system_id"], sid.as_str());
    assert_eq!(s.get(Some(&user), "tags/ssd/?op=devices").await.json(), json!([]));
    assert_eq!(s.get(Some(&user), "tags/ssd/?op=nodes").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.post(Some(&admin), "tags/ssd/?op=rebuild", &[]).await.json(), json!({"rebuilding": "ssd"}));
    let r = s.post(Some(&admin), "tags/ssd/?op=update_nodes", &[("remove", &sid)]).await;
    assert_eq!(r.json(), json!({"added": 0, "removed": 1}));
    assert_eq!(
        s.call(Some(&admin), "PUT", "tags/ssd/", &[("name", "nvme"), ("kernel_opts", "nomodeset")]).await.json()
            ["kernel_opts"],
        "nomodeset"
    );
    assert_eq!(s.get(Some(&user), "tags/").await.json().as_array().unwrap().len(), 1);
    assert_eq!(s.call(Some(&admin), "DELETE", "tags/nvme/", &[]).await.status, 204);
    assert_eq!(s.get(Some(&user), "tags/nvme/").await.body, "No Tag matches the given query.");

    // nodes/ lists every node type, with type-specific resource_uri.
    // (The region itself is a node too: it registered at start.)
    let n = s.get(Some(&admin), "nodes/").await.json();
    let m = n.as_array().unwrap().iter().find(|x| x["system_id"] == sid.as_str()).expect("the machine in nodes/");
    assert_eq!(m["node_type_name"], "Machine");
    assert_eq!(m["resource_uri"], format!("/MAAS/api/2.0/machines/{sid}/"));
    assert!(
        n.as_array().unwrap().iter().any(|x| x["node_type_name"] == "Region controller"
            && x["resource_uri"].as_str().is_some_and(|u| u.starts_with("/MAAS/api/2.0/regioncontrollers/"))),
        "{n}"
    );
    assert_eq!(s.get(Some(&admin), &format!("nodes/{sid}/")).await.json()["system_id"], sid.as_str());
    assert_eq!(s.get(None, "nodes/?op=is_registered&mac_address=00:00:00:00:00:01").await.json(), json!(false));
    assert_eq!(s.call(Some(&user), "DELETE", &format!("nodes/{sid}/"), &[]).await.status, 403);
    assert_eq!(s.call(Some(&admin), "DELETE", &format!("nodes/{sid}/"), &[]).await.status, 204);
});
