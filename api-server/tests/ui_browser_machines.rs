//! The machine forms in a real browser (headless Chromium over WebDriver,
//! as `ui_browser.rs`), on SQLite and PostgreSQL: the add machine form
//! redraws with the chosen power type's parameters when the select changes
//! (the one piece of script these pages have), keeps what was typed, and
//! adds the machine; its page shows the commissioning run and changes the
//! zone through the Configuration section. A failing run leaves a
//! screenshot in `target/test-artifacts/` (or `$IRONPOOL_TEST_ARTIFACTS`);
//! with `UPDATE_SCREENSHOTS=1` the SQLite run refreshes the PNGs
//! `docs/ui.md` shows for these pages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::webdriver::{doc_shot, Browser};
use common::*;

const WAIT: Duration = Duration::from_secs(30);

async fn scenario(s: &TestServer, b: &Browser, backend: Backend) {
    let admin = s.user("admin", true).await;
    assert_eq!(s.post(Some(&admin), "zones/", &[("name", "rack-b")]).await.status, 200);
    b.log_in(s, "admin").await;

    // From the machines page to the form.
    b.click(&b.find("nav.add-hardware a[href='/MAAS/r/machines/add']").await).await;
    b.wait_text("h1", WAIT, |t| t == "Add machine").await;
    b.type_into(&b.find("#hostname").await, "web-b1").await;
    b.type_into(&b.find("#mac_addresses").await, "52:54:00:7d:00:01").await;
    // Choosing IPMI redraws the form with its parameters, typed values kept.
    b.select("#power_type", "ipmi").await;
    b.wait_text("p.notice", WAIT, |t| t.contains("Fill in the IPMI power parameters")).await;
    let host = b.script("return document.querySelector('#hostname').value;").await;
    assert_eq!(host, "web-b1");
    let driver = b.script("return document.querySelector('#pp-power_driver').value;").await;
    assert_eq!(driver, "LAN_2_0", "the type's default");
    b.type_into(&b.find("#pp-power_address").await, "10.0.0.9").await;
    b.type_into(&b.find("#pp-power_user").await, "root").await;
    doc_shot(b, backend, "add-machine").await;
    // Saved: the machine's page.
    b.click(&b.find("#save").await).await;
    b.wait_text("h1", WAIT, |t| t.starts_with("web-b1")).await;
    let sid = b.url().await.rsplit('/').next().unwrap().to_string();
    let m = machine(s, &admin, &sid).await;
    assert_eq!((m["power_type"].as_str(), m["status_name"].as_str()), (Some("ipmi"), Some("Commissioning")));
    let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_address"], "10.0.0.9");

    // Its page: the commissioning run, and the zone changed in place.
    b.wait_text("#results h2", WAIT, |t| t == "Commissioning and tests").await;
    assert!(b.try_find("#results div.run[data-run='commissioning']").await.is_some());
    b.select("#config-zone-select", "rack-b").await;
    b.click(&b.find("#config-edit button.primary").await).await;
    b.wait_text("#config p.notice", WAIT, |t| t == "Saved the zone and resource pool.").await;
    assert_eq!(machine(s, &admin, &sid).await["zone"]["name"], "rack-b");
    b.script("document.querySelector('#results').scrollIntoView(); return 1;").await;
    doc_shot(b, backend, "machine-results").await;
}

backend_tests!(browser_machine_forms, |b| async move {
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let browser = Browser::start().await;
    browser.screenshot_on_failure(&format!("ui_browser_machines_{b:?}"), scenario(&s, &browser, b)).await;
});
