//! The drivers by power type, the retry wrapper and [`sync_all`], which
//! queries many machines with bounded concurrency.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{ipmi, manual, redfish, ucsm, virsh, virtual_bmc, webhook};
use crate::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};
use futures_util::stream::{self, StreamExt};

/// Looks up drivers by MAAS `power_type`.
#[derive(Clone, Default)]
pub struct Drivers {
    by_type: HashMap<&'static str, Arc<dyn PowerDriver>>,
}

impl Drivers {
    /// The rack's standard set: ipmi (freeipmi), redfish, webhook, virsh,
    /// ucsm (Cisco UCS Manager), manual, and virtual over the given simulated-BMC registry.
    pub fn standard(virtual_bmcs: virtual_bmc::VirtualBmcs) -> Self {
        let mut d = Drivers::default();
        d.insert(Arc::new(ipmi::IpmiDriver::default()));
        d.insert(Arc::new(redfish::RedfishDriver::default()));
        d.insert(Arc::new(webhook::WebhookDriver::default()));
        d.insert(Arc::new(virsh::VirshDriver::default()));
        d.insert(Arc::new(ucsm::UcsmDriver::default()));
        d.insert(Arc::new(manual::ManualDriver));
        d.insert(Arc::new(virtual_bmc::VirtualDriver::new(virtual_bmcs)));
        d
    }

    pub fn insert(&mut self, driver: Arc<dyn PowerDriver>) {
        self.by_type.insert(driver.power_type(), driver);
    }

    pub fn get(&self, power_type: &str) -> Option<Arc<dyn PowerDriver>> {
        self.by_type.get(power_type).cloned()
    }

    /// Runs `action` with the driver for `power_type`, with [`RetryPolicy`].
    pub async fn act(
        &self,
        power_type: &str,
        action: PowerAction,
        params: &PowerParams,
        retry: &RetryPolicy,
    ) -> Result<Option<PowerState>, PowerError> {
        let driver = self
            .get(power_type)
            .ok_or_else(|| PowerError::Config(format!("no power driver for power_type '{power_type}' on this rack")))?;
        act_with_retry(driver.as_ref(), action, params, retry).await
    }
}

/// How often to retry transient failures (timeouts, unreachable BMCs).
/// Authentication and parameter errors are never retried: BMCs lock accounts
/// after a few bad logins.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 2, backoff: Duration::from_millis(500) }
    }
}

/// `driver.act` with retries of transient errors, doubling the wait each time.
pub async fn act_with_retry(
    driver: &dyn PowerDriver,
    action: PowerAction,
    params: &PowerParams,
    retry: &RetryPolicy,
) -> Result<Option<PowerState>, PowerError> {
    let mut wait = retry.backoff;
    let mut attempt = 1;
    loop {
        match driver.act(action, params).await {
            Err(e) if e.is_transient() && attempt < retry.attempts.max(1) => {
                tracing::debug!(power_type = driver.power_type(), %action, attempt, error = %e, "retrying power action");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One machine to query in [`sync_all`].
#[derive(Debug, Clone)]
pub struct SyncTarget {
    /// The caller's key (a system_id).
    pub id: String,
    pub power_type: String,
    pub params: PowerParams,
}

/// One machine's outcome in [`sync_all`].
#[derive(Debug, Clone)]
pub struct SyncResult {
    pub id: String,
    pub result: Result<Option<PowerState>, PowerError>,
    pub elapsed: Duration,
}

/// Queries every target's power state with at most `concurrency` queries in
/// flight, so a rack with thousands of machines neither serialises behind one
/// slow BMC nor floods the BMC network. Results come back in completion order,
/// one per target; a failing BMC only affects its own entry.
pub async fn sync_all(
    drivers: &Drivers,
    targets: Vec<SyncTarget>,
    concurrency: usize,
    retry: &RetryPolicy,
) -> Vec<SyncResult> {
    stream::iter(targets)
        .map(|t| async move {
            let start = Instant::now();
            let result = drivers.act(&t.power_type, PowerAction::Query, &t.params, retry).await;
            if let Err(e) = &result {
                tracing::info!(machine = %t.id, power_type = %t.power_type, kind = e.kind(), error = %e, "power query failed");
            }
            SyncResult { id: t.id, result, elapsed: start.elapsed() }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::virtual_bmc::{VirtualBmc, VirtualBmcs};
    use super::*;

    /// Wraps a driver and records the most of its calls in flight at once.
    struct Gauge {
        inner: Arc<dyn PowerDriver>,
        now: std::sync::atomic::AtomicUsize,
        max: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl PowerDriver for Gauge {
        fn power_type(&self) -> &'static str {
            self.inner.power_type()
        }
        async fn act(&self, action: PowerAction, params: &PowerParams) -> Result<Option<PowerState>, PowerError> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.now.fetch_add(1, SeqCst) + 1;
            self.max.fetch_max(now, SeqCst);
            let r = self.inner.act(action, params).await;
            self.now.fetch_sub(1, SeqCst);
            r
        }
    }

    #[tokio::test]
    async fn sync_all_is_bounded_and_reports_each_machine() {
        let bmcs = VirtualBmcs::new();
        for i in 0..20 {
            let bmc = VirtualBmc { latency: Duration::from_millis(50), reachable: i != 3, ..Default::default() };
            bmcs.add(format!("vbmc-{i}"), bmc);
        }
        let mut drivers = Drivers::standard(bmcs);
        let gauge = Arc::new(Gauge {
            inner: drivers.get("virtual").unwrap(),
            now: Default::default(),
            max: Default::default(),
        });
        drivers.insert(gauge.clone());
        let mut targets: Vec<SyncTarget> = (0..20)
            .map(|i| SyncTarget {
                id: format!("m{i}"),
                power_type: "virtual".into(),
                params: [("power_address".to_string(), format!("vbmc-{i}"))].into_iter().collect(),
            })
            .collect();
        targets.push(SyncTarget { id: "nodriver".into(), power_type: "telepathy".into(), params: PowerParams::new() });
        let start = Instant::now();
        let retry = RetryPolicy { attempts: 1, backoff: Duration::ZERO };
        let results = sync_all(&drivers, targets, 5, &retry).await;
        let took = start.elapsed();
        assert_eq!(results.len(), 21);
        // The bound is measured, not inferred from the wall clock (a loaded
        // machine stretches any time limit): exactly 5 queries in flight at
        // the peak, neither serial nor unbounded.
        assert_eq!(gauge.max.load(std::sync::atomic::Ordering::SeqCst), 5);
        // 20 × 50 ms with at most 5 at a time cannot take less than 4 rounds.
        assert!(took >= Duration::from_millis(190), "{took:?}");
        let by_id = |id: &str| results.iter().find(|r| r.id == id).map(|r| r.result.clone());
        assert_eq!(by_id("m0"), Some(Ok(Some(PowerState::Off))));
        assert!(matches!(by_id("m3"), Some(Err(PowerError::Timeout { .. }))));
        assert!(matches!(by_id("nodriver"), Some(Err(PowerError::Config(_)))));
    }

    /// Fails with a fixed error and counts calls.
    struct Failing(PowerError, std::sync::atomic::AtomicU32);

    #[async_trait::async_trait]
    impl PowerDriver for Failing {
        fn power_type(&self) -> &'static str {
            "failing"
        }
        async fn act(&self, _: PowerAction, _: &PowerParams) -> Result<Option<PowerState>, PowerError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(self.0.clone())
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_auth_errors_are_not() {
        let retry = RetryPolicy { attempts: 3, backoff: Duration::from_millis(1) };
        let p = PowerParams::new();
        let timeout = Failing(PowerError::Timeout { target: "b".into(), detail: "d".into() }, Default::default());
        assert!(act_with_retry(&timeout, PowerAction::On, &p, &retry).await.is_err());
        assert_eq!(timeout.1.load(std::sync::atomic::Ordering::SeqCst), 3);
        let auth = Failing(PowerError::Auth { target: "b".into(), detail: "d".into() }, Default::default());
        assert!(act_with_retry(&auth, PowerAction::On, &p, &retry).await.is_err());
        assert_eq!(auth.1.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
