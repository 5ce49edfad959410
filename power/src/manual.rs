//! `manual`: an operator powers the machine by hand. Nothing to do, and the
//! state cannot be observed, so every action answers `None`.

use async_trait::async_trait;

use crate::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

pub struct ManualDriver;

#[async_trait]
impl PowerDriver for ManualDriver {
    fn power_type(&self) -> &'static str {
        "manual"
    }

    async fn act(&self, _action: PowerAction, _params: &PowerParams) -> Result<Option<PowerState>, PowerError> {
        Ok(None)
    }
}
