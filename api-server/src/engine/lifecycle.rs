//! Node statuses and MAAS's transition table (`maas-api.md` §8).
//!
//! Every status change goes through [`check_transition`]; a move the table does
//! not list is a 409 `Invalid transition: <Old> -> <New>.`

use crate::error::{Error, Result};

pub use crate::db::types::{NodeType, Status, ALL};

use Status::*;

impl Status {
    /// The label clients display and compare (`status_name`).
    pub fn label(self) -> &'static str {
        match self {
            New => "New",
            Commissioning => "Commissioning",
            FailedCommissioning => "Failed commissioning",
            Missing => "Missing",
            Ready => "Ready",
            Reserved => "Reserved",
            Deployed => "Deployed",
            Retired => "Retired",
            Broken => "Broken",
            Deploying => "Deploying",
            Allocated => "Allocated",
            FailedDeployment => "Failed deployment",
            Releasing => "Releasing",
            // MAAS's word order differs from the constant's here.
            FailedReleasing => "Releasing failed",
            DiskErasing => "Disk erasing",
            FailedDiskErasing => "Failed disk erasing",
            RescueMode => "Rescue mode",
            EnteringRescueMode => "Entering rescue mode",
            FailedEnteringRescueMode => "Failed to enter rescue mode",
            ExitingRescueMode => "Exiting rescue mode",
            FailedExitingRescueMode => "Failed to exit rescue mode",
            Testing => "Testing",
            FailedTesting => "Failed testing",
        }
    }

    /// The value of the `status=` list filter.
    pub fn filter_name(self) -> &'static str {
        match self {
            New => "new",
            Commissioning => "commissioning",
            FailedCommissioning => "failed_commissioning",
            Missing => "missing",
            Ready => "ready",
            Reserved => "reserved",
            Deployed => "deployed",
            Retired => "retired",
            Broken => "broken",
            Deploying => "deploying",
            Allocated => "allocated",
            FailedDeployment => "failed_deployment",
            Releasing => "releasing",
            FailedReleasing => "failed_releasing",
            DiskErasing => "disk_erasing",
            FailedDiskErasing => "failed_disk_erasing",
            RescueMode => "rescue_mode",
            EnteringRescueMode => "entering_rescue_mode",
            FailedEnteringRescueMode => "failed_entering_rescue_mode",
            ExitingRescueMode => "exiting_rescue_mode",
            FailedExitingRescueMode => "failed_exiting_rescue_mode",
            Testing => "testing",
            FailedTesting => "failed_testing",
        }
    }

    pub fn from_filter_name(name: &str) -> Option<Status> {
        let n = name.trim().to_ascii_lowercase();
        ALL.iter().copied().find(|s| s.filter_name() == n)
    }

    /// MAAS's simplified status (`simple_status=` filter).
    pub fn simple(self) -> &'static str {
        match self {
            Allocated => "Allocated",
            Broken => "Broken",
            Commissioning => "Commissioning",
            Deployed => "Deployed",
            Deploying => "Deploying",
            New => "New",
            Ready => "Ready",
            Testing => "Testing",
            FailedCommissioning
            | FailedDeployment
            | FailedReleasing
            | FailedDiskErasing
            | FailedEnteringRescueMode
            | FailedExitingRescueMode
            | FailedTesting => "Failed",
            Releasing | DiskErasing => "Releasing",
            RescueMode | EnteringRescueMode | ExitingRescueMode => "Rescue Mode",
            Missing | Reserved | Retired => "Other",
        }
    }

    /// The status an in-progress step falls to when it fails or times out.
    pub fn failed_counterpart(self) -> Option<Status> {
        Some(match self {
            Commissioning => FailedCommissioning,
            Deploying => FailedDeployment,
            Releasing => FailedReleasing,
            DiskErasing => FailedDiskErasing,
            EnteringRescueMode => FailedEnteringRescueMode,
            ExitingRescueMode => FailedExitingRescueMode,
            Testing => FailedTesting,
            _ => return None,
        })
    }

    /// The legal next statuses (§8.2). Staying put is always allowed.
    pub fn allowed_next(self) -> &'static [Status] {
        match self {
            New => &[Commissioning, Testing, Missing, Ready, Retired, Broken, EnteringRescueMode],
            Commissioning => &[FailedCommissioning, Ready, Retired, Missing, New, Broken, Testing],
            FailedCommissioning => &[Commissioning, Missing, Retired, Broken, EnteringRescueMode, Testing],
            Ready => &[EnteringRescueMode, Commissioning, Allocated, Reserved, Retired, Missing, Broken, Testing],
            Reserved => {
                &[Ready, Allocated, Retired, Missing, Broken, DiskErasing, Releasing, EnteringRescueMode, Testing]
            }
            Allocated => {
                &[Ready, Retired, Missing, Broken, Deploying, DiskErasing, Releasing, EnteringRescueMode, Testing]
            }
            Deploying => &[Allocated, Missing, Broken, FailedDeployment, Deployed, Ready, DiskErasing, Releasing],
            Deployed => &[Allocated, Missing, Broken, Ready, DiskErasing, Releasing, EnteringRescueMode, Testing],
            FailedDeployment => {
                &[Allocated, Missing, Broken, Ready, DiskErasing, Releasing, EnteringRescueMode, Testing]
            }
            Releasing => &[
                New,
                Allocated,
                Reserved,
                Deployed,
                Ready,
                Broken,
                Missing,
                FailedDeployment,
                FailedDiskErasing,
                FailedReleasing,
            ],
            FailedReleasing => &[Releasing, DiskErasing, Ready, Broken, Testing],
            DiskErasing => &[Broken, DiskErasing, FailedDiskErasing, Ready, Releasing],
            FailedDiskErasing => &[DiskErasing, Releasing, Broken, Allocated, Ready, EnteringRescueMode, Testing],
            Missing => &[New, Ready, Allocated, Commissioning, Broken, EnteringRescueMode, Testing],
            Retired => &[New, Ready, Missing, Broken, EnteringRescueMode, Testing],
            Broken => &[Commissioning, Ready, DiskErasing, Releasing, EnteringRescueMode, Testing, Deployed],
            EnteringRescueMode => &[Ready, Broken, Deployed, RescueMode, FailedEnteringRescueMode, ExitingRescueMode],
            FailedEnteringRescueMode => &[Broken, EnteringRescueMode, ExitingRescueMode, Testing],
            RescueMode => &[Broken, ExitingRescueMode, Testing],
            // Exiting rescue mode restores whatever status came before it.
            ExitingRescueMode => &ALL,
            FailedExitingRescueMode => &[Broken, ExitingRescueMode, Testing],
            Testing => &[
                Broken,
                New,
                Ready,
                Reserved,
                Allocated,
                Deployed,
                Commissioning,
                FailedDeployment,
                Missing,
                Retired,
                FailedReleasing,
                FailedDiskErasing,
                FailedEnteringRescueMode,
                FailedExitingRescueMode,
                FailedTesting,
            ],
            FailedTesting => &[Commissioning, Broken, Missing, EnteringRescueMode, Testing, Ready, Deployed],
        }
    }

    pub fn can_move_to(self, to: Status) -> bool {
        self == to || self.allowed_next().contains(&to)
    }
}

/// Refuses a status change the table does not allow.
pub fn check_transition(from: Status, to: Status) -> Result<()> {
    if from.can_move_to(to) {
        Ok(())
    } else {
        Err(Error::Conflict(format!("Invalid transition: {} -> {}.", from.label(), to.label())))
    }
}

/// Statuses from which `release` does real work (READY and RELEASING are no-ops).
pub const RELEASABLE: &[Status] =
    &[Allocated, Reserved, Broken, Deploying, Deployed, FailedDeployment, FailedDiskErasing, FailedReleasing];

/// Statuses `abort` applies to.
pub const ABORTABLE: &[Status] = &[Commissioning, DiskErasing, Deploying, Testing];

/// Statuses `commission` starts from.
pub const COMMISSIONABLE: &[Status] = &[New, Ready, FailedCommissioning, Missing, Broken, FailedTesting, Testing];

impl NodeType {
    pub fn is_rack(self) -> bool {
        matches!(self, NodeType::RackController | NodeType::RegionAndRackController)
    }

    pub fn label(self) -> &'static str {
        match self {
            NodeType::Machine => "Machine",
            NodeType::Device => "Device",
            NodeType::RackController => "Rack controller",
            NodeType::RegionController => "Region controller",
            NodeType::RegionAndRackController => "Region and rack controller",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_labels_are_maas() {
        for s in ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
            assert_eq!(Status::from_filter_name(s.filter_name()), Some(s));
        }
        assert_eq!(FailedReleasing.label(), "Releasing failed");
        assert_eq!(FailedReleasing.code(), 13);
        assert_eq!(Status::from_code(23), None);
    }

    /// MAAS's transition table as published (`maas-api.md` §8.2), transcribed
    /// as text and parsed here, so the enum-based table is checked against an
    /// independent encoding for every one of the 23 × 23 pairs.
    const REFERENCE: &str = "
NEW | COMMISSIONING, TESTING, MISSING, READY, RETIRED, BROKEN, ENTERING_RESCUE_MODE
COMMISSIONING | FAILED_COMMISSIONING, READY, RETIRED, MISSING, NEW, BROKEN, TESTING
FAILED_COMMISSIONING | COMMISSIONING, MISSING, RETIRED, BROKEN, ENTERING_RESCUE_MODE, TESTING
READY | ENTERING_RESCUE_MODE, COMMISSIONING, ALLOCATED, RESERVED, RETIRED, MISSING, BROKEN, TESTING
RESERVED | READY, ALLOCATED, RETIRED, MISSING, BROKEN, DISK_ERASING, RELEASING, ENTERING_RESCUE_MODE, TESTING
ALLOCATED | READY, RETIRED, MISSING, BROKEN, DEPLOYING, DISK_ERASING, RELEASING, ENTERING_RESCUE_MODE, TESTING
DEPLOYING | ALLOCATED, MISSING, BROKEN, FAILED_DEPLOYMENT, DEPLOYED, READY, DISK_ERASING, RELEASING
DEPLOYED | ALLOCATED, MISSING, BROKEN, READY, DISK_ERASING, RELEASING, ENTERING_RESCUE_MODE, TESTING
FAILED_DEPLOYMENT | ALLOCATED, MISSING, BROKEN, READY, DISK_ERASING, RELEASING, ENTERING_RESCUE_MODE, TESTING
RELEASING | NEW, ALLOCATED, RESERVED, DEPLOYED, READY, BROKEN, MISSING, FAILED_DEPLOYMENT, FAILED_DISK_ERASING, FAILED_RELEASING
FAILED_RELEASING | RELEASING, DISK_ERASING, READY, BROKEN, TESTING
DISK_ERASING | BROKEN, DISK_ERASING, FAILED_DISK_ERASING, READY, RELEASING
FAILED_DISK_ERASING | DISK_ERASING, RELEASING, BROKEN, ALLOCATED, READY, ENTERING_RESCUE_MODE, TESTING
MISSING | NEW, READY, ALLOCATED, COMMISSIONING, BROKEN, ENTERING_RESCUE_MODE, TESTING
RETIRED | NEW, READY, MISSING, BROKEN, ENTERING_RESCUE_MODE, TESTING
BROKEN | COMMISSIONING, READY, DISK_ERASING, RELEASING, ENTERING_RESCUE_MODE, TESTING, DEPLOYED
ENTERING_RESCUE_MODE | READY, BROKEN, DEPLOYED, RESCUE_MODE, FAILED_ENTERING_RESCUE_MODE, EXITING_RESCUE_MODE
FAILED_ENTERING_RESCUE_MODE | BROKEN, ENTERING_RESCUE_MODE, EXITING_RESCUE_MODE, TESTING
RESCUE_MODE | BROKEN, EXITING_RESCUE_MODE, TESTING
EXITING_RESCUE_MODE | *
FAILED_EXITING_RESCUE_MODE | BROKEN, EXITING_RESCUE_MODE, TESTING
TESTING | BROKEN, NEW, READY, RESERVED, ALLOCATED, DEPLOYED, COMMISSIONING, FAILED_DEPLOYMENT, MISSING, RETIRED, FAILED_RELEASING, FAILED_DISK_ERASING, FAILED_ENTERING_RESCUE_MODE, FAILED_EXITING_RESCUE_MODE, FAILED_TESTING
FAILED_TESTING | COMMISSIONING, BROKEN, MISSING, ENTERING_RESCUE_MODE, TESTING, READY, DEPLOYED
";

    fn by_constant(name: &str) -> Status {
        // The constant is the filter name upper-cased (the label differs for 13).
        ALL.iter()
            .copied()
            .find(|s| s.filter_name().eq_ignore_ascii_case(name.trim()))
            .unwrap_or_else(|| panic!("{name}"))
    }

    #[test]
    fn whole_transition_table_matches_the_reference() {
        let mut rows = 0;
        for line in REFERENCE.lines().filter(|l| !l.trim().is_empty()) {
            let (from, tos) = line.split_once('|').unwrap();
            let from = by_constant(from);
            let allowed: Vec<Status> =
                if tos.trim() == "*" { ALL.to_vec() } else { tos.split(',').map(by_constant).collect() };
            for to in ALL {
                let expected = to == from || allowed.contains(&to);
                assert_eq!(from.can_move_to(to), expected, "{from:?} -> {to:?}");
                assert_eq!(check_transition(from, to).is_ok(), expected);
            }
            rows += 1;
        }
        assert_eq!(rows, ALL.len(), "every status has a row");
    }

    #[test]
    fn transition_table_spot_checks() {
        assert!(Ready.can_move_to(Allocated));
        assert!(!Ready.can_move_to(Deployed));
        assert!(!Ready.can_move_to(Releasing));
        assert!(Allocated.can_move_to(Deploying));
        assert!(!New.can_move_to(Allocated));
        assert!(Deployed.can_move_to(Releasing));
        for s in ALL {
            assert!(s.can_move_to(s), "staying put is allowed for {s:?}");
            assert!(ExitingRescueMode.can_move_to(s));
        }
        let e = check_transition(Ready, Deployed).unwrap_err();
        assert_eq!(e.to_string(), "Invalid transition: Ready -> Deployed.");
    }
}
