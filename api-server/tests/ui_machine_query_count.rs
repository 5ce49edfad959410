//! The machine page and a script result's output page are N+1-free: they
//! cost the same number of SQL statements with 3 tags and 3 results in
//! each of the machine's commissioning, testing and installation runs as
//! with 150. Alone in its test binary because it counts queries through
//! diesel's process-wide instrumentation (as `ui_query_count.rs` does).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::ui::UiClient;
use common::*;
use ironpool_region::db;
use ironpool_region::engine;
use ironpool_region::engine::nodes::create::{create_machine, MachineInput};
use ironpool_region::engine::results::{result_type, status, Report};

/// For every `i` in `from..to`: tag `t{i}` on the machine, and a result
/// `script-{i}` with some output in each of its three runs.
async fn seed(s: &TestServer, sid: &str, from: usize, to: usize) {
    let sid = sid.to_string();
    s.state
        .db
        .write(move |c| {
            let n = db::nodes::by_system_id(c, &sid)?.unwrap();
            for i in from..to {
                let tag = engine::tags::create_tag(c, &format!("t{i}"), "", "", "")?;
                db::tags::attach(c, tag.id, &[n.id])?;
                for rtype in [result_type::COMMISSIONING, result_type::TESTING, result_type::INSTALLATION] {
                    let report = Report {
                        name: format!("script-{i}"),
                        status: if i % 2 == 0 { status::PASSED } else { status::FAILED },
                        exit_status: Some((i % 2) as i32),
                        output: Some(format!("output of script {i}\n").into_bytes()),
                        ..Default::default()
                    };
                    engine::results::record(c, &n, rtype, &report)?;
                }
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn check(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.run_jobs = false;
        c.db_pool_size = 1;
        c.http_workers = 1;
    });
    let admin = s.user("admin", true).await;
    let mut ui = UiClient::new(&s.origin);
    ui.login("admin", "admin-password").await;
    let sid = s
        .state
        .db
        .write(|c| {
            let admin = db::users::by_username(c, "admin")?.unwrap();
            let m = create_machine(
                c,
                Some(&admin),
                MachineInput {
                    architecture: Some("amd64".into()),
                    mac_addresses: vec!["02:00:00:00:aa:01".into()],
                    hostname: Some("counted".into()),
                    power_type: "manual".into(),
                    commission: false,
                    ..Default::default()
                },
            )?;
            Ok(m.system_id)
        })
        .await
        .unwrap();
    seed(&s, &sid, 0, 3).await;
    let set = s.get(Some(&admin), &format!("nodes/{sid}/results/current-commissioning/")).await.json();
    let output = format!("/MAAS/r/machine/{sid}/result/{}/{}", set["id"], set["results"][0]["id"]);
    let pages = [format!("/MAAS/r/machine/{sid}"), output];
    for p in &pages {
        common::query_count::page_cost(&mut ui, p).await; // warm-up: connection setup is not counted
    }
    let mut few = Vec::new();
    for p in &pages {
        few.push(common::query_count::page_cost(&mut ui, p).await);
    }
    seed(&s, &sid, 3, 150).await;
    let page = ui.get(&pages[0]).await;
    assert!(page.body.contains("script-149") && page.body.contains("data-tag=\"t149\""), "the page shows them all");
    for (p, n) in pages.iter().zip(&few) {
        let many = common::query_count::page_cost(&mut ui, p).await;
        println!("{b:?}: {p}: 3 of each = {n} queries, 150 = {many}");
        assert_eq!(*n, many, "{b:?}: {p} must not cost more queries with more results and tags");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_page_query_count_is_fixed() {
    common::query_count::install();
    check(Backend::Sqlite).await;
    check(Backend::Postgres).await;
}
