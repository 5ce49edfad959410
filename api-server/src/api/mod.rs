//! MAAS handler families: one module per group of MAAS handlers. Each module
//! declares its handlers (URL, name, actions, parameter docs) and implements
//! the actions as thin functions: parse, authorize, call the engine, render.

pub mod account;
pub mod boot_resources;
pub mod devices;
pub mod dhcp_snippets;
pub mod discoveries;
pub mod dns;
pub mod events;
pub mod files;
pub mod interfaces;
pub mod license_keys;
pub mod maas;
pub mod machines;
pub mod metadata;
pub mod metrics;
pub mod network;
pub mod node_devices;
pub mod notifications;
pub mod package_repositories;
pub mod places;
pub mod racks;
pub mod raid;
pub mod reserved_ips;
pub mod results;
pub mod scripts;
pub mod site;
pub mod sshkeys;
pub mod storage;
pub mod support;
pub mod tags;
pub mod users;
pub mod v1;
pub mod version;
pub mod views;
pub mod vm_hosts;

use crate::http::registry::Handler;

/// Every handler the API 2.0 router serves and `describe/` lists.
pub fn handlers() -> Vec<Handler> {
    let mut all = Vec::new();
    all.extend(version::handlers());
    all.extend(users::handlers());
    all.extend(account::handlers());
    all.extend(sshkeys::handlers());
    all.extend(maas::handlers());
    all.extend(machines::handlers());
    all.extend(places::handlers());
    all.extend(tags::handlers());
    all.extend(events::handlers());
    all.extend(files::handlers());
    all.extend(notifications::handlers());
    all.extend(network::handlers());
    all.extend(interfaces::handlers());
    all.extend(devices::handlers());
    all.extend(storage::handlers());
    all.extend(raid::handlers());
    all.extend(dns::handlers());
    all.extend(racks::handlers());
    all.extend(boot_resources::handlers());
    all.extend(license_keys::handlers());
    all.extend(package_repositories::handlers());
    all.extend(reserved_ips::handlers());
    all.extend(scripts::handlers());
    all.extend(discoveries::handlers());
    all.extend(dhcp_snippets::handlers());
    all.extend(vm_hosts::handlers());
    all.extend(results::handlers());
    all.extend(node_devices::handlers());
    all
}
