//! What a rack knows, shared by its servers (HTTP, TFTP, DHCP) and the link
//! loop: the system_id the region gave it, the configuration it serves, and
//! the reports (lease events, boot events, power results) waiting for the
//! region.
//!
//! Its own module so dependencies point one way: the daemon starts the
//! servers and drives the link, the servers read and report through this
//! state, and this module depends on neither.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;

use crate::dhcp::DhcpStats;
use crate::dhcp6::Dhcp6Stats;
use crate::tftp::TftpStats;
use ironpool_common::dhcp::LeaseEvent;
use ironpool_common::rack_link::{BootEvent, ImageRef, PowerResult, RackConfig};

/// Most events kept while no region is reachable; older ones are dropped
/// (the lease table on the rack stays authoritative meanwhile).
const MAX_PENDING: usize = 10_000;

/// What the rack knows, shared by its servers and the link loop.
#[derive(Default)]
pub struct RackState {
    system_id: RwLock<Option<String>>,
    config: RwLock<Option<(String, Arc<RackConfig>)>>,
    connected: AtomicBool,
    /// Successful syncs since start.
    pub syncs: AtomicU64,
    /// Configurations received whole, and as deltas applied.
    pub configs_whole: AtomicU64,
    pub configs_delta: AtomicU64,
    /// Registrations since start (one per (re)connection).
    pub registrations: AtomicU64,
    /// When the last sync succeeded, in milliseconds since the Unix epoch
    /// (0: never), for the metrics' sync age.
    last_sync_ms: AtomicU64,
    pending_leases: Mutex<Vec<LeaseEvent>>,
    pending_boot: Mutex<Vec<BootEvent>>,
    pending_power: Mutex<Vec<PowerResult>>,
    /// Power jobs being run, so a job repeated by the next sync runs once.
    power_in_flight: Mutex<HashSet<i64>>,
    /// Power commands run since start.
    pub power_commands: AtomicU64,
    downloads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    dhcp_stats: Mutex<Option<Arc<DhcpStats>>>,
    dhcp6_stats: Mutex<Option<Arc<Dhcp6Stats>>>,
    tftp_stats: Mutex<Option<Arc<TftpStats>>>,
    /// HTTP boot server responses by route and status, for the metrics.
    http_responses: Mutex<BTreeMap<(&'static str, u16), u64>>,
    flush: Notify,
}

/// How many reports wait for a region, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingReports {
    pub leases: usize,
    pub boot_events: usize,
    pub power_results: usize,
}

// Every lock below holds plain data that a panicking holder cannot leave
// half-updated in a way that matters, so a poisoned lock is used as is.
impl RackState {
    pub fn system_id(&self) -> Option<String> {
        self.system_id.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_system_id(&self, id: String) {
        *self.system_id.write().unwrap_or_else(|e| e.into_inner()) = Some(id);
    }

    pub fn config(&self) -> Option<Arc<RackConfig>> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(_, c)| c.clone())
    }

    pub(crate) fn config_hash(&self) -> Option<String> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(h, _)| h.clone())
    }

    /// Keeps serving the configuration but stops vouching for its hash, so
    /// the next sync gets the whole document (a delta that could not be
    /// applied).
    pub(crate) fn forget_config_hash(&self) {
        if let Some((h, _)) = self.config.write().unwrap_or_else(|e| e.into_inner()).as_mut() {
            h.clear();
        }
    }

    pub(crate) fn set_config(&self, hash: String, cfg: RackConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Some((hash, Arc::new(cfg)));
    }

    /// Whether the last exchange with a region succeeded.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Records whether the last exchange succeeded; returns the previous value.
    pub(crate) fn set_connected(&self, on: bool) -> bool {
        self.connected.swap(on, Ordering::Relaxed)
    }

    pub fn dhcp_stats(&self) -> Option<Arc<DhcpStats>> {
        self.dhcp_stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_dhcp_stats(&self, stats: Arc<DhcpStats>) {
        *self.dhcp_stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats);
    }

    pub fn dhcp6_stats(&self) -> Option<Arc<Dhcp6Stats>> {
        self.dhcp6_stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_dhcp6_stats(&self, stats: Arc<Dhcp6Stats>) {
        *self.dhcp6_stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats);
    }

    pub fn tftp_stats(&self) -> Option<Arc<TftpStats>> {
        self.tftp_stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_tftp_stats(&self, stats: Arc<TftpStats>) {
        *self.tftp_stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats);
    }

    /// Records a successful sync (count and time).
    pub(crate) fn synced(&self) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.last_sync_ms.store(unix_ms(), Ordering::Relaxed);
    }

    /// Seconds since the last successful sync; `None` before the first.
    pub fn last_sync_age(&self) -> Option<f64> {
        let at = self.last_sync_ms.load(Ordering::Relaxed);
        if at == 0 {
            return None;
        }
        Some(unix_ms().saturating_sub(at) as f64 / 1000.0)
    }

    /// Counts a response of the HTTP boot server (`route` is a fixed name,
    /// never the raw path, so the label values stay bounded).
    pub(crate) fn http_response(&self, route: &'static str, status: u16) {
        *self.http_responses.lock().unwrap_or_else(|e| e.into_inner()).entry((route, status)).or_default() += 1;
    }

    /// HTTP boot server responses so far, by route and status.
    pub fn http_responses(&self) -> Vec<((&'static str, u16), u64)> {
        self.http_responses.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Reports waiting for a region.
    pub fn pending(&self) -> PendingReports {
        PendingReports {
            leases: queued(&self.pending_leases),
            boot_events: queued(&self.pending_boot),
            power_results: queued(&self.pending_power),
        }
    }

    /// A boot file or deployable image the current configuration names.
    pub fn image_ref(&self, sha256: &str) -> Option<ImageRef> {
        let cfg = self.config()?;
        let b = &cfg.boot;
        let found = std::iter::once(&b.enlist)
            .chain(b.machines.iter().map(|m| &m.entry))
            .flat_map(|e| [&e.kernel, &e.initrd])
            .flatten()
            .chain(b.images.iter())
            .find(|r| r.sha256 == sha256)
            .cloned();
        found
    }

    pub(crate) fn download_lock(&self, sha256: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.downloads.lock().unwrap_or_else(|e| e.into_inner()).entry(sha256.to_string()).or_default().clone()
    }

    pub(crate) fn boot_event(&self, e: BootEvent) {
        push_bounded(&self.pending_boot, e);
        self.flush.notify_one();
    }

    pub(crate) fn lease_event(&self, e: LeaseEvent) {
        push_bounded(&self.pending_leases, e);
        self.flush.notify_one();
    }

    pub(crate) fn power_result(&self, r: PowerResult) {
        push_bounded(&self.pending_power, r);
        self.flush.notify_one();
    }

    /// Marks a power job as running; false when it already is (the region
    /// repeats a job on every sync until its result arrives).
    pub(crate) fn claim_power_job(&self, job_id: i64) -> bool {
        if !self.power_in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(job_id) {
            return false;
        }
        self.power_commands.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Power jobs running or holding results for the region.
    pub(crate) fn power_jobs_in_flight(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.power_in_flight.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        v.sort_unstable();
        v
    }

    /// Forgets power jobs whose results the region has taken.
    pub(crate) fn release_power_jobs(&self, results: &[PowerResult]) {
        let mut in_flight = self.power_in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for r in results {
            in_flight.remove(&r.job_id);
        }
    }

    /// Resolves when a report is waiting (for the link loop to wake early).
    pub(crate) async fn reports_waiting(&self) {
        self.flush.notified().await
    }

    pub(crate) fn take_leases(&self) -> Vec<LeaseEvent> {
        take(&self.pending_leases)
    }

    pub(crate) fn put_back_leases(&self, items: Vec<LeaseEvent>) {
        put_back(&self.pending_leases, items)
    }

    /// Whether power results wait for a region.
    pub(crate) fn power_results_waiting(&self) -> bool {
        queued(&self.pending_power) > 0
    }

    pub(crate) fn take_power_results(&self) -> Vec<PowerResult> {
        take(&self.pending_power)
    }

    pub(crate) fn put_back_power_results(&self, items: Vec<PowerResult>) {
        put_back(&self.pending_power, items)
    }

    pub(crate) fn take_boot_events(&self) -> Vec<BootEvent> {
        take(&self.pending_boot)
    }

    pub(crate) fn put_back_boot_events(&self, items: Vec<BootEvent>) {
        put_back(&self.pending_boot, items)
    }
}

fn push_bounded<T>(q: &Mutex<Vec<T>>, item: T) {
    let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
    if q.len() >= MAX_PENDING {
        q.remove(0);
    }
    q.push(item);
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn queued<T>(q: &Mutex<Vec<T>>) -> usize {
    q.lock().unwrap_or_else(|e| e.into_inner()).len()
}

fn take<T>(q: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *q.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Puts reports the region did not take back in front of those queued since.
fn put_back<T>(q: &Mutex<Vec<T>>, mut items: Vec<T>) {
    let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
    items.append(&mut q);
    items.truncate(MAX_PENDING);
    *q = items;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_queue_is_bounded_and_ordered() {
        let q = Mutex::new(Vec::new());
        for i in 0..MAX_PENDING + 5 {
            push_bounded(&q, i);
        }
        let items = take(&q);
        assert_eq!(items.len(), MAX_PENDING);
        assert_eq!(items[0], 5);
        push_bounded(&q, 99_999);
        put_back(&q, vec![1, 2]);
        assert_eq!(take(&q), vec![1, 2, 99_999]);
    }
}
