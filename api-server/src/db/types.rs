//! Typed columns: a node's status and type are stored as MAAS's integer
//! codes and read back as enums, so no caller compares raw numbers or
//! converts with a fallback. Only these enums write the columns, so an
//! unknown code means the database was edited by hand; it is a read error,
//! not a silent "New" or "Machine".
//!
//! The labels, filter names and MAAS's transition table live with the
//! rules in `engine::lifecycle`; only the codes are here.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;

/// A node status, with MAAS's numeric codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Integer)]
#[repr(i32)]
pub enum Status {
    New = 0,
    Commissioning = 1,
    FailedCommissioning = 2,
    Missing = 3,
    Ready = 4,
    Reserved = 5,
    Deployed = 6,
    Retired = 7,
    Broken = 8,
    Deploying = 9,
    Allocated = 10,
    FailedDeployment = 11,
    Releasing = 12,
    FailedReleasing = 13,
    DiskErasing = 14,
    FailedDiskErasing = 15,
    RescueMode = 16,
    EnteringRescueMode = 17,
    FailedEnteringRescueMode = 18,
    ExitingRescueMode = 19,
    FailedExitingRescueMode = 20,
    Testing = 21,
    FailedTesting = 22,
}

/// Every status, in code order (`ALL[s.code()] == s`).
pub const ALL: [Status; 23] = {
    use Status::*;
    [
        New,
        Commissioning,
        FailedCommissioning,
        Missing,
        Ready,
        Reserved,
        Deployed,
        Retired,
        Broken,
        Deploying,
        Allocated,
        FailedDeployment,
        Releasing,
        FailedReleasing,
        DiskErasing,
        FailedDiskErasing,
        RescueMode,
        EnteringRescueMode,
        FailedEnteringRescueMode,
        ExitingRescueMode,
        FailedExitingRescueMode,
        Testing,
        FailedTesting,
    ]
};

/// The codes as statics: diesel binds a borrowed value, and a code computed
/// on the fly would not live long enough. Both enums' codes are indexes
/// into it.
static CODES: [i32; 23] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22];

impl Status {
    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Status> {
        usize::try_from(code).ok().and_then(|i| ALL.get(i)).copied()
    }
}

/// Node types, with MAAS's numeric codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Integer)]
#[repr(i32)]
pub enum NodeType {
    Machine = 0,
    Device = 1,
    RackController = 2,
    RegionController = 3,
    RegionAndRackController = 4,
}

const NODE_TYPES: [NodeType; 5] = [
    NodeType::Machine,
    NodeType::Device,
    NodeType::RackController,
    NodeType::RegionController,
    NodeType::RegionAndRackController,
];

impl NodeType {
    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<NodeType> {
        usize::try_from(code).ok().and_then(|i| NODE_TYPES.get(i)).copied()
    }
}

/// Reads and writes an enum column as its integer code (`from_code` maps a
/// code back; `$what` names the column's kind in the read error).
macro_rules! integer_column {
    ($ty:ty, $what:literal) => {
        impl<DB> FromSql<Integer, DB> for $ty
        where
            DB: Backend,
            i32: FromSql<Integer, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let code = i32::from_sql(bytes)?;
                <$ty>::from_code(code).ok_or_else(|| format!("unknown {} code {code} in the database", $what).into())
            }
        }

        impl<DB> ToSql<Integer, DB> for $ty
        where
            DB: Backend,
            i32: ToSql<Integer, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                CODES[*self as usize].to_sql(out)
            }
        }
    };
}

integer_column!(Status, "node status");
integer_column!(NodeType, "node type");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_indexes() {
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(s.code() as usize, i);
            assert_eq!(CODES[i], s.code());
        }
        for (i, t) in NODE_TYPES.iter().enumerate() {
            assert_eq!(t.code() as usize, i);
        }
        assert_eq!(Status::from_code(23), None);
        assert_eq!(Status::from_code(-1), None);
        assert_eq!(NodeType::from_code(5), None);
    }
}
