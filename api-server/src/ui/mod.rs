//! The web UI under `/MAAS/r/`: server-rendered HTML pages over the same
//! engine and handlers as the API.
//!
//! How it stays honest:
//! - Every change a page makes is an API action, called in-process through
//!   the API's own handler table ([`calls`]) with the logged-in user as the
//!   caller. Permissions, validation and MAAS's error words are therefore
//!   exactly the API's; the UI only turns forms into parameters and results
//!   into HTML.
//! - Reads use the API's handlers too where one exists (a machine's JSON,
//!   its events, power parameters); the machines table, which must stay
//!   fast at 10,000 machines, reads through the same engine filter the
//!   `machines/` list uses (`engine::allocation`, `engine::access`). The
//!   zones, pools and tags pages read their rows and the machine counts
//!   the viewer may see directly (`db::nodes::count_by` over the same
//!   filter, narrowed by `engine::access::restrict_list`), because no API
//!   answer carries those counts; the networks pages read the network
//!   model (`db::network`) and a subnet's addresses with their interfaces
//!   and nodes by id, because the API's `?op=ip_addresses` reads those one
//!   address at a time; the images page reads the boot resources with
//!   their sets and files, and the users page the users with the machines
//!   each owns, because the API reads those one object at a time or not at
//!   all. Every list page costs a fixed number of queries
//!   (`tests/ui_query_count.rs`).
//! - Sessions are server-side rows (`engine::sessions`); every POST carries
//!   the session's CSRF token ([`session`]).
//! - Templates are compiled (maud); CSS and JavaScript are embedded in the
//!   binary and served from `/MAAS/r/static/`: no CDN, works offline.
//! - Live updates come from the region's change feed (`engine::changes`)
//!   over server-sent events ([`live`]).

pub mod account;
pub mod calls;
pub mod controllers;
pub mod domain;
pub mod domains;
pub mod forms;
pub mod images;
pub mod layout;
pub mod live;
pub mod machine;
pub mod machine_add;
pub mod machine_results;
pub mod machines;
pub mod networks;
pub mod places;
pub mod respond;
pub mod router;
pub mod session;
pub mod settings;
pub mod subnet;
pub mod tags;
pub mod users;
pub mod viewer;
pub mod vlan;

pub use respond::{is_entry, to_entry, PREFIX};
pub use router::route;
