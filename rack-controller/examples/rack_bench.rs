//! Rack benchmarks: `cargo run --release -p ironpool-rack --example rack_bench -- [tftp|dhcp|dhcp-compare|power|all]`.
//! Needs root for tftpd-hpa and for dhcp-compare (a network namespace and
//! dnsmasq); set ATFTPD=/path/to/atftpd to add atftpd as a
//! reference server. See docs/rack.md for the figures and setup.

use std::io::Write;

use ironpool_rack::bench;

/// Prints a report; a closed stdout (`| head`) is not an error worth a panic.
fn print(report: &str) {
    let _ = writeln!(std::io::stdout(), "{report}");
}

#[tokio::main]
async fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let mut failed = false;
    if what == "tftp" || what == "all" {
        match bench::tftp(64, 20, 3).await {
            Ok(r) => print(&r),
            Err(e) => {
                eprintln!("tftp benchmark: {e}");
                failed = true;
            }
        }
    }
    if what == "dhcp" || what == "all" {
        match bench::dhcp(32, 5).await {
            Ok(r) => print(&r),
            Err(e) => {
                eprintln!("dhcp benchmark: {e}");
                failed = true;
            }
        }
    }
    if what == "dhcp-compare" || what == "all" {
        match bench::dhcp_compare(32, 5, 10_000).await {
            Ok(r) => print(&r.report),
            Err(e) => {
                eprintln!("dhcp comparison: {e}");
                failed = true;
            }
        }
    }
    if what == "power" || what == "all" {
        match bench::power(200, std::time::Duration::from_millis(20)).await {
            Ok(r) => print(&r),
            Err(e) => {
                eprintln!("power benchmark: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
