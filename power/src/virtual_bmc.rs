//! `virtual`: simulated BMCs held in memory, keyed by `power_address`, for
//! simulated machines, demos and benchmarks. Each BMC can require a password,
//! answer after a latency, or be made unreachable, so the same error paths as
//! a real BMC can be exercised without one.
//!
//! Simulated machines follow their BMC through [`VirtualBmcs::watch`]: every
//! power-on or power-cycle is a new boot (`boots` increases), power-off
//! stops the machine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::params::required;
use crate::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

/// One simulated BMC.
#[derive(Debug, Clone)]
pub struct VirtualBmc {
    pub state: PowerState,
    /// `None` accepts any credentials.
    pub password: Option<String>,
    /// How long each request takes (a real BMC answers in 10–100 ms).
    pub latency: Duration,
    /// When false, requests time out after `latency`.
    pub reachable: bool,
    /// Actions received, oldest first (for tests).
    pub history: Vec<PowerAction>,
}

impl Default for VirtualBmc {
    fn default() -> Self {
        VirtualBmc {
            state: PowerState::Off,
            password: None,
            latency: Duration::ZERO,
            reachable: true,
            history: Vec::new(),
        }
    }
}

/// What a simulated machine sees of its BMC: the power state and how many
/// times it has been (re)booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerEvent {
    pub state: PowerState,
    pub boots: u64,
}

/// The registry of simulated BMCs; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct VirtualBmcs {
    inner: Arc<Mutex<HashMap<String, VirtualBmc>>>,
    watchers: Arc<Mutex<HashMap<String, watch::Sender<PowerEvent>>>>,
}

impl VirtualBmcs {
    pub fn new() -> Self {
        Self::default()
    }

    // A poisoned lock only means a panic elsewhere mid-update of plain data;
    // the map is still usable.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, VirtualBmc>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, address: impl Into<String>, bmc: VirtualBmc) {
        self.lock().insert(address.into(), bmc);
    }

    pub fn remove(&self, address: &str) -> Option<VirtualBmc> {
        self.lock().remove(address)
    }

    pub fn get(&self, address: &str) -> Option<VirtualBmc> {
        self.lock().get(address).cloned()
    }

    /// Changes a BMC in place (e.g. to make it unreachable).
    pub fn update(&self, address: &str, f: impl FnOnce(&mut VirtualBmc)) -> bool {
        match self.lock().get_mut(address) {
            Some(b) => {
                f(b);
                true
            }
            None => false,
        }
    }

    /// Follows a BMC's power changes (created on first call).
    pub fn watch(&self, address: &str) -> watch::Receiver<PowerEvent> {
        let state = self.get(address).map(|b| b.state).unwrap_or(PowerState::Off);
        let mut w = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        w.entry(address.to_string()).or_insert_with(|| watch::channel(PowerEvent { state, boots: 0 }).0).subscribe()
    }

    /// Tells watchers about an action the BMC performed.
    fn notify(&self, address: &str, action: PowerAction, state: PowerState) {
        let w = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = w.get(address) {
            tx.send_modify(|ev| {
                ev.state = state;
                if matches!(action, PowerAction::On | PowerAction::Cycle) {
                    ev.boots += 1;
                }
            });
        }
    }

    /// Acts on a BMC directly (as if its button were pressed), notifying
    /// watchers; false if there is no such BMC.
    pub fn press(&self, address: &str, action: PowerAction) -> bool {
        let mut state = PowerState::Unknown;
        let found = self.update(address, |b| {
            apply(b, action);
            state = b.state;
        });
        if found {
            self.notify(address, action, state);
        }
        found
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn apply(b: &mut VirtualBmc, action: PowerAction) {
    b.history.push(action);
    match action {
        PowerAction::On | PowerAction::Cycle => b.state = PowerState::On,
        PowerAction::Off => b.state = PowerState::Off,
        PowerAction::Query => {}
    }
}

pub struct VirtualDriver {
    bmcs: VirtualBmcs,
}

impl VirtualDriver {
    pub fn new(bmcs: VirtualBmcs) -> Self {
        VirtualDriver { bmcs }
    }
}

#[async_trait]
impl PowerDriver for VirtualDriver {
    fn power_type(&self) -> &'static str {
        "virtual"
    }

    async fn act(&self, action: PowerAction, params: &PowerParams) -> Result<Option<PowerState>, PowerError> {
        let address = required(params, "power_address")?;
        let Some(bmc) = self.bmcs.get(address) else {
            return Err(PowerError::Unreachable {
                target: address.to_string(),
                detail: "no virtual BMC registered at this address".into(),
            });
        };
        if !bmc.latency.is_zero() {
            tokio::time::sleep(bmc.latency).await;
        }
        if !bmc.reachable {
            return Err(PowerError::Timeout {
                target: address.to_string(),
                detail: format!("no answer within {:?}", bmc.latency),
            });
        }
        if let Some(expected) = &bmc.password {
            if params.get("power_pass") != Some(expected) {
                return Err(PowerError::Auth { target: address.to_string(), detail: "password invalid".into() });
            }
        }
        let mut result = PowerState::Unknown;
        self.bmcs.update(address, |b| {
            apply(b, action);
            result = b.state;
        });
        if action != PowerAction::Query {
            self.bmcs.notify(address, action, result);
        }
        Ok(Some(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(addr: &str, pass: &str) -> PowerParams {
        [("power_address", addr), ("power_pass", pass)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[tokio::test]
    async fn simulated_bmc_behaves_like_a_real_one() {
        let bmcs = VirtualBmcs::new();
        bmcs.add("vbmc-1", VirtualBmc { password: Some("s3cret".into()), ..Default::default() });
        let d = VirtualDriver::new(bmcs.clone());
        assert_eq!(d.act(PowerAction::Query, &params("vbmc-1", "s3cret")).await, Ok(Some(PowerState::Off)));
        assert_eq!(d.act(PowerAction::On, &params("vbmc-1", "s3cret")).await, Ok(Some(PowerState::On)));
        assert_eq!(d.act(PowerAction::Query, &params("vbmc-1", "s3cret")).await, Ok(Some(PowerState::On)));
        assert!(matches!(d.act(PowerAction::Off, &params("vbmc-1", "wrong")).await, Err(PowerError::Auth { .. })));
        assert!(matches!(d.act(PowerAction::Off, &params("nope", "")).await, Err(PowerError::Unreachable { .. })));
        bmcs.update("vbmc-1", |b| b.reachable = false);
        assert!(matches!(d.act(PowerAction::Off, &params("vbmc-1", "s3cret")).await, Err(PowerError::Timeout { .. })));
        assert_eq!(bmcs.get("vbmc-1").map(|b| b.history.len()), Some(3));
    }

    #[tokio::test]
    async fn watchers_see_boots_and_power_off() {
        let bmcs = VirtualBmcs::new();
        bmcs.add("vbmc-2", VirtualBmc::default());
        let mut rx = bmcs.watch("vbmc-2");
        let d = VirtualDriver::new(bmcs.clone());
        d.act(PowerAction::On, &params("vbmc-2", "")).await.unwrap();
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), PowerEvent { state: PowerState::On, boots: 1 });
        d.act(PowerAction::Cycle, &params("vbmc-2", "")).await.unwrap();
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().boots, 2);
        assert!(bmcs.press("vbmc-2", PowerAction::Off));
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().state, PowerState::Off);
    }
}
