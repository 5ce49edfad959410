//! Keyed counters that lock a key out once it has been counted too often
//! inside a window: the shape shared by the login limiter
//! (`engine::login_guard`, counting wrong passwords) and the enlistment
//! limiter ([`EnlistGuard`], counting anonymous machine creations).
//!
//! A key's count starts at its first hit; hits older than the window (from
//! that first one) are forgotten. The hit that reaches the key's maximum
//! locks it for the lockout time, during which [`Counters::check`] refuses
//! it with how long to wait. The state lives in this process's memory: a
//! restart forgets it, and regions sharing a PostgreSQL database count
//! separately (each still bounds what reaches it).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Records beyond this many are pruned of expired entries, so a flood of
/// made-up keys (usernames, addresses) cannot grow memory without bound.
const PRUNE_ABOVE: usize = 10_000;

/// The refusal: how long until the caller may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after: Duration,
}

impl Locked {
    /// Whole seconds to wait, rounded up: a client retrying after the
    /// advertised time must get in.
    pub fn secs(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }
}

/// How a family of keys is counted.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Counts older than this (from a key's first one) are forgotten.
    pub window: Duration,
    /// How long a key that reached its maximum stays locked.
    pub lockout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

/// Counters for keys of type `K`.
pub struct Counters<K> {
    window: Window,
    records: Mutex<HashMap<K, Record>>,
}

impl<K: Eq + Hash> Counters<K> {
    pub fn new(window: Window) -> Self {
        Counters { window, records: Mutex::new(HashMap::new()) }
    }

    /// Refused while any of `keys` is locked, with the longest wait.
    pub fn check(&self, keys: impl IntoIterator<Item = K>) -> std::result::Result<(), Locked> {
        let now = Instant::now();
        let mut records = self.lock();
        Self::check_locked(&mut records, keys, now)
    }

    /// Counts one hit on each key, `max` being that key's limit (0: never locks).
    pub fn count(&self, keys: impl IntoIterator<Item = (K, u32)>) {
        let now = Instant::now();
        let mut records = self.lock();
        self.count_locked(&mut records, keys, now);
    }

    /// Checks and, if nothing is locked, counts, under one lock (so
    /// concurrent callers cannot all pass a check before any is counted).
    pub fn take(&self, keys: impl IntoIterator<Item = (K, u32)> + Clone) -> std::result::Result<(), Locked>
    where
        K: Clone,
    {
        let now = Instant::now();
        let mut records = self.lock();
        Self::check_locked(&mut records, keys.clone().into_iter().map(|(k, _)| k), now)?;
        self.count_locked(&mut records, keys, now);
        Ok(())
    }

    /// Forgets a key (a right password clears its username's failures).
    pub fn clear(&self, key: &K) {
        self.lock().remove(key);
    }

    fn check_locked(
        records: &mut HashMap<K, Record>,
        keys: impl IntoIterator<Item = K>,
        now: Instant,
    ) -> std::result::Result<(), Locked> {
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(until) = records.get(&key).and_then(|r| r.locked_until) {
                if until > now {
                    wait = wait.max(until - now);
                } else {
                    // The lockout is over: start counting afresh.
                    records.remove(&key);
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(Locked { retry_after: wait })
        }
    }

    fn count_locked(&self, records: &mut HashMap<K, Record>, keys: impl IntoIterator<Item = (K, u32)>, now: Instant) {
        let w = self.window;
        if records.len() > PRUNE_ABOVE {
            records.retain(|_, r| match r.locked_until {
                Some(until) => until > now,
                None => now.duration_since(r.first) < w.window,
            });
        }
        for (key, max) in keys {
            if max == 0 {
                continue;
            }
            let r = records.entry(key).or_insert(Record { count: 0, first: now, locked_until: None });
            let lock_over = r.locked_until.is_some_and(|until| until <= now);
            let window_over = r.locked_until.is_none() && now.duration_since(r.first) >= w.window;
            if lock_over || window_over {
                *r = Record { count: 0, first: now, locked_until: None };
            }
            r.count = r.count.saturating_add(1);
            if r.count >= max && r.locked_until.is_none() {
                r.locked_until = Some(now + w.lockout);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Record>> {
        // A panic while holding the lock leaves plain counters behind, still usable.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Limits on anonymous enlistment (`POST machines/` without credentials).
#[derive(Debug, Clone, Copy)]
pub struct EnlistLimits {
    /// Enlistments from one source address per window; 0 turns it off.
    /// Machines that enlist through a rack's HTTP proxy all come from the
    /// rack's address, so this is per rack for them.
    pub per_address: u32,
    /// Enlistments from all addresses together per window; 0 turns it off.
    pub total: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum EnlistKey {
    Address(IpAddr),
    All,
}

/// Counts anonymous enlistments per source address and in total. Each
/// limit, once reached, refuses further enlistments for one window;
/// administrators creating machines with credentials are not counted.
pub struct EnlistGuard {
    limits: EnlistLimits,
    counters: Counters<EnlistKey>,
}

impl EnlistGuard {
    pub fn new(limits: EnlistLimits) -> Self {
        EnlistGuard { limits, counters: Counters::new(Window { window: limits.window, lockout: limits.window }) }
    }

    /// Admits one enlistment from `addr`, or refuses it with
    /// [`Error::TooManyRequests`] (429 with `Retry-After`).
    pub fn admit(&self, addr: Option<IpAddr>) -> Result<()> {
        let mut keys = vec![(EnlistKey::All, self.limits.total)];
        if let Some(a) = addr {
            keys.push((EnlistKey::Address(a), self.limits.per_address));
        }
        self.counters.take(keys).map_err(|locked| {
            let secs = locked.secs();
            Error::TooManyRequests {
                message: format!(
                    "Too many machines enlisted from this address or in total recently; try again in {secs} \
                     seconds (an administrator can raise enlist_max_per_address / enlist_max_total)."
                ),
                retry_after_secs: secs,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: u32, total: u32) -> EnlistLimits {
        EnlistLimits { per_address, total, window: Duration::from_secs(3600) }
    }

    #[test]
    fn per_address_then_other_address_still_admitted() {
        let g = EnlistGuard::new(limits(3, 100));
        let a: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            g.admit(Some(a)).unwrap();
        }
        let e = g.admit(Some(a)).unwrap_err();
        assert!(matches!(e, Error::TooManyRequests { retry_after_secs, .. } if retry_after_secs > 3000));
        g.admit(Some([10, 0, 0, 2].into())).unwrap();
    }

    #[test]
    fn total_limits_all_addresses() {
        let g = EnlistGuard::new(limits(100, 4));
        for i in 0..4u8 {
            g.admit(Some([10, 0, 1, i].into())).unwrap();
        }
        assert!(g.admit(Some([10, 0, 2, 1].into())).is_err());
    }

    #[test]
    fn zero_disables() {
        let g = EnlistGuard::new(limits(0, 0));
        for _ in 0..1000 {
            g.admit(Some([10, 0, 0, 1].into())).unwrap();
        }
    }

    #[test]
    fn window_expiry_restarts_count() {
        let c: Counters<u8> = Counters::new(Window { window: Duration::ZERO, lockout: Duration::ZERO });
        for _ in 0..10 {
            c.take([(1, 2)]).unwrap();
        }
    }
}
