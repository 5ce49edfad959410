//! Limits failed password logins, per username and per source address.
//!
//! After `max_failures` wrong passwords for one username inside the failure
//! window, that username is locked for the lockout time: every attempt,
//! right password or not, is refused without checking the password (so a
//! lockout cannot be probed and costs no argon2 time). One source address
//! may fail `ADDRESS_FACTOR` times as often, so guessing many usernames from
//! one host is bounded too while other users behind the same address (a
//! NAT, the test suite's 127.0.0.1) keep logging in. A successful login
//! clears its username's record, not its address's: an attacker with one
//! valid account could otherwise reset the address limit at will.
//!
//! The state lives in this process's memory: a restart forgets it, and
//! regions sharing a PostgreSQL database count separately (each still
//! bounds guessing to its own limit).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many more failures a source address may have than one username.
pub const ADDRESS_FACTOR: u32 = 5;

/// Records beyond this many are pruned of expired entries, so a flood of
/// made-up usernames cannot grow memory without bound.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Wrong passwords per username before it is locked; 0 turns limiting off.
    pub max_failures: u32,
    /// Failures older than this (counted from the first one) are forgotten.
    pub failure_window: Duration,
    /// How long a locked username or address stays locked.
    pub lockout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

/// The refusal: how long until the caller may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after: Duration,
}

pub struct LoginGuard {
    limits: LoginLimits,
    records: Mutex<HashMap<Key, Record>>,
}

impl LoginGuard {
    pub fn new(limits: LoginLimits) -> Self {
        LoginGuard { limits, records: Mutex::new(HashMap::new()) }
    }

    /// Whether `username` from `addr` may try a password now.
    pub fn check(&self, username: &str, addr: Option<IpAddr>) -> Result<(), Locked> {
        if self.limits.max_failures == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut records = self.lock();
        let mut wait = Duration::ZERO;
        for key in keys(username, addr) {
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

    /// Counts a wrong password (or unknown username: they are not told apart).
    pub fn failed(&self, username: &str, addr: Option<IpAddr>) {
        if self.limits.max_failures == 0 {
            return;
        }
        let now = Instant::now();
        let limits = self.limits;
        let mut records = self.lock();
        if records.len() > PRUNE_ABOVE {
            records.retain(|_, r| match r.locked_until {
                Some(until) => until > now,
                None => now.duration_since(r.first) < limits.failure_window,
            });
        }
        for key in keys(username, addr) {
            let max = match key {
                Key::User(_) => limits.max_failures,
                Key::Address(_) => limits.max_failures.saturating_mul(ADDRESS_FACTOR),
            };
            let r = records.entry(key).or_insert(Record { failures: 0, first: now, locked_until: None });
            if now.duration_since(r.first) >= limits.failure_window {
                *r = Record { failures: 0, first: now, locked_until: None };
            }
            r.failures = r.failures.saturating_add(1);
            if r.failures >= max {
                r.locked_until = Some(now + limits.lockout);
            }
        }
    }

    /// A right password: the username starts with a clean slate.
    pub fn succeeded(&self, username: &str) {
        self.lock().remove(&Key::User(username.to_string()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Record>> {
        // A panic while holding the lock leaves plain counters behind, still usable.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn keys(username: &str, addr: Option<IpAddr>) -> impl Iterator<Item = Key> {
    std::iter::once(Key::User(username.to_string())).chain(addr.map(Key::Address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max: u32) -> LoginGuard {
        LoginGuard::new(LoginLimits {
            max_failures: max,
            failure_window: Duration::from_secs(3600),
            lockout: Duration::from_secs(3600),
        })
    }

    #[test]
    fn locks_user_after_max_failures_and_success_clears() {
        let g = guard(3);
        let a: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..2 {
            assert!(g.check("u", Some(a)).is_ok());
            g.failed("u", Some(a));
        }
        g.succeeded("u");
        for _ in 0..3 {
            assert!(g.check("u", Some(a)).is_ok());
            g.failed("u", Some(a));
        }
        let locked = g.check("u", Some(a)).unwrap_err();
        assert!(locked.retry_after > Duration::from_secs(3000));
        // Another user from the same address is not locked by one user's failures.
        assert!(g.check("v", Some(a)).is_ok());
    }

    #[test]
    fn address_locks_after_factor_times_failures() {
        let g = guard(2);
        let a: IpAddr = [10, 0, 0, 2].into();
        for i in 0..(2 * ADDRESS_FACTOR) {
            g.failed(&format!("user{i}"), Some(a));
        }
        assert!(g.check("fresh", Some(a)).is_err());
        assert!(g.check("fresh", Some([10, 0, 0, 3].into())).is_ok());
    }

    #[test]
    fn zero_disables() {
        let g = guard(0);
        for _ in 0..100 {
            g.failed("u", None);
        }
        assert!(g.check("u", None).is_ok());
    }
}
