//! The paths the region (`api-server/`) imports from this crate, pinned at
//! compile time. The wire types, DHCP configuration and `serve_file` moved
//! to ironpool-common, the power drivers to ironpool-power; this crate
//! re-exports them at their old paths until the region imports them from
//! there. Delete an item here when the
//! region stops using its re-export, and the re-export with it.

// Tests fail by panicking: unwrap/expect are how they assert.
#![allow(unused_imports, clippy::unwrap_used, clippy::expect_used)]

use ironpool_rack::dhcp::{Cidr, DhcpConfig, LeaseEventKind, MacAddr, Reservation, SubnetConfig};
use ironpool_rack::link::proto::{
    self, BootConfig, BootEntry, BootEventReport, BootMachine, ImageRef, LeaseReport, PowerCommand, PowerResult,
    PowerResultReport, Purpose, RackConfig, RackInterface, RegisterRequest, RegisterResponse, SyncRequest,
    SyncResponse,
};
use ironpool_rack::link::{Rack, RackOptions};
use ironpool_rack::power::virtual_bmc::{VirtualBmc, VirtualBmcs};
use ironpool_rack::power::{Drivers, RetryPolicy};

#[test]
fn the_region_s_imports_resolve() {
    assert_eq!(ironpool_rack::link::boot::purpose_name(Purpose::Xinstall), "xinstall");
    assert!(proto::RPC_PREFIX.starts_with("/MAAS/"));
    assert!(!proto::AUTH_HEADER.is_empty());
    let _: i64 = proto::MAX_SKEW_SECS;
    let secret = proto::new_secret();
    assert!(proto::valid_secret(&secret));
    let header = proto::sign(&secret, "POST", "/x", 1, b"");
    let signed = proto::parse_header(&header).unwrap();
    assert!(proto::verify(&secret, "POST", "/x", &signed, b""));
    let cfg = RackConfig {
        dhcp: Some(DhcpConfig::new(
            "10.0.0.1".parse().unwrap(),
            vec![SubnetConfig {
                cidr: Cidr { network: "10.0.0.0".parse().unwrap(), prefix: 24 },
                router: None,
                dns_servers: vec![],
                domain: None,
                range_start: "10.0.0.10".parse().unwrap(),
                range_end: "10.0.0.20".parse().unwrap(),
                lease_time: 600,
                next_server: None,
            }],
        )),
        boot: BootConfig {
            enlist: BootEntry { kernel: None, initrd: None, cmdline: String::new() },
            machines: vec![],
            images: vec![],
        },
    };
    assert_eq!(proto::config_hash(&cfg).len(), 64);
    let _: Option<Reservation> = None;
    let _: Option<LeaseEventKind> = None;
    let _: Result<MacAddr, _> = "52:54:00:00:00:01".parse::<MacAddr>();
    let _ = Drivers::standard(VirtualBmcs::new());
    let _ = (RetryPolicy::default(), VirtualBmc::default());
    // An async fn item: naming it is enough to pin the path.
    let _serve_file = ironpool_rack::link::http::serve_file;
}
