//! The rack's Prometheus metrics (`GET /metrics` on its own listener,
//! MAAS's rack port 5249, loopback by default).
//!
//! The servers count into atomics they own (`DhcpStats`, `Dhcp6Stats`,
//! `TftpStats`) and the link into [`RackState`]; nothing on a packet path
//! touches a metrics registry. A scrape reads those values into a fresh
//! registry and encodes it with the prometheus crate, so the series are
//! exactly the counters' values at that moment and a server restarted by a
//! new configuration (a new `DhcpStats`) starts its counters again, which
//! Prometheus reads as a counter reset.
//!
//! Its own listener rather than a route on the boot HTTP server: that one
//! answers every machine on the boot networks, and what the rack serves
//! and to whom is not theirs to read.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus::{Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use super::state::RackState;

/// Binds the metrics listener; the returned server runs until stopped.
pub fn bind(listen: SocketAddr, state: Arc<RackState>) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let state = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).route("/metrics", web::get().to(scrape)).default_service(web::to(|| async {
            HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("Only /metrics is served here.")
        }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(listen)?;
    let addr = *server.addrs().first().ok_or_else(|| std::io::Error::other("no address bound"))?;
    Ok((addr, server.run()))
}

async fn scrape(state: web::Data<RackState>) -> HttpResponse {
    match render(&state) {
        Ok(text) => HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the rack's metrics");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body(e.to_string())
        }
    }
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Builds series in a scrape's registry.
struct Scrape {
    registry: Registry,
}

impl Scrape {
    fn counter(&self, name: &str, help: &str, value: u64) -> prometheus::Result<()> {
        let c = IntCounter::new(name, help)?;
        c.inc_by(value);
        self.registry.register(Box::new(c))
    }

    fn gauge(&self, name: &str, help: &str, value: i64) -> prometheus::Result<()> {
        let g = IntGauge::new(name, help)?;
        g.set(value);
        self.registry.register(Box::new(g))
    }

    /// One counter family with a label, a series per `(label value, count)`.
    fn counters(&self, name: &str, help: &str, label: &str, values: &[(&str, u64)]) -> prometheus::Result<()> {
        let v = IntCounterVec::new(Opts::new(name, help), &[label])?;
        for (l, n) in values {
            v.with_label_values(&[*l]).inc_by(*n);
        }
        self.registry.register(Box::new(v))
    }
}

/// The metrics text for the rack's current state.
pub fn render(state: &RackState) -> prometheus::Result<String> {
    let s = Scrape { registry: Registry::new() };

    let info = IntGaugeVec::new(
        Opts::new("ironpool_rack_info", "The rack's version and the system_id the region gave it (always 1)."),
        &["version", "system_id"],
    )?;
    info.with_label_values(&[ironpool_common::IRONPOOL_VERSION, state.system_id().as_deref().unwrap_or("")]).set(1);
    s.registry.register(Box::new(info))?;

    // The region link.
    s.gauge(
        "ironpool_rack_region_connected",
        "1 when the last exchange with a region succeeded, else 0.",
        i64::from(state.connected()),
    )?;
    s.counter(
        "ironpool_rack_registrations_total",
        "Registrations with a region since start (one per (re)connection).",
        load(&state.registrations),
    )?;
    s.counter("ironpool_rack_syncs_total", "Successful syncs with a region since start.", load(&state.syncs))?;
    s.counters(
        "ironpool_rack_config_updates_total",
        "Configurations received from the region, whole or as a delta applied.",
        "kind",
        &[("whole", load(&state.configs_whole)), ("delta", load(&state.configs_delta))],
    )?;
    if let Some(age) = state.last_sync_age() {
        let g = Gauge::new("ironpool_rack_last_sync_age_seconds", "Seconds since the last successful sync.")?;
        g.set(age);
        s.registry.register(Box::new(g))?;
    }
    let config = state.config();
    let machines = config.as_ref().map(|c| c.boot.machines.len()).unwrap_or(0);
    s.gauge(
        "ironpool_rack_config_machines",
        "Machines in the boot configuration the rack serves.",
        i64::try_from(machines).unwrap_or(i64::MAX),
    )?;
    s.gauge(
        "ironpool_rack_config_loaded",
        "1 when the rack holds a configuration from a region (fresh or cached), else 0.",
        i64::from(config.is_some()),
    )?;
    let p = state.pending();
    let pending = IntGaugeVec::new(
        Opts::new("ironpool_rack_pending_reports", "Reports waiting for a region to take them, by kind."),
        &["kind"],
    )?;
    for (kind, n) in [("lease", p.leases), ("boot_event", p.boot_events), ("power_result", p.power_results)] {
        pending.with_label_values(&[kind]).set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    s.registry.register(Box::new(pending))?;
    s.counter("ironpool_rack_power_commands_total", "Power commands run since start.", load(&state.power_commands))?;

    // DHCP (present once the region enabled it on a VLAN this rack serves).
    if let Some(d) = state.dhcp_stats() {
        s.counter("ironpool_rack_dhcp_received_total", "DHCP datagrams received.", load(&d.received))?;
        s.counters(
            "ironpool_rack_dhcp_messages_total",
            "DHCP messages by type: received (discover, request, release, decline, inform) and sent (offer, ack, nak).",
            "type",
            &[
                ("discover", load(&d.discovers)),
                ("offer", load(&d.offers)),
                ("request", load(&d.requests)),
                ("ack", load(&d.acks)),
                ("nak", load(&d.naks)),
                ("release", load(&d.releases)),
                ("decline", load(&d.declines)),
                ("inform", load(&d.informs)),
            ],
        )?;
        s.counters(
            "ironpool_rack_dhcp_problems_total",
            "DHCP datagrams dropped or not answered, and lease events lost, by reason.",
            "reason",
            &[
                ("malformed", load(&d.malformed)),
                ("ignored", load(&d.ignored)),
                ("exhausted", load(&d.exhausted)),
                ("send_error", load(&d.send_errors)),
                ("events_dropped", load(&d.events_dropped)),
            ],
        )?;
    }
    if let Some(d) = state.dhcp6_stats() {
        s.counter("ironpool_rack_dhcp6_received_total", "DHCPv6 datagrams received.", load(&d.received))?;
        s.counters(
            "ironpool_rack_dhcp6_messages_total",
            "DHCPv6 messages by type: received, and ADVERTISE/REPLY sent (reply).",
            "type",
            &[
                ("solicit", load(&d.solicits)),
                ("request", load(&d.requests)),
                ("confirm", load(&d.confirms)),
                ("renew", load(&d.renews)),
                ("rebind", load(&d.rebinds)),
                ("release", load(&d.releases)),
                ("decline", load(&d.declines)),
                ("information_request", load(&d.information_requests)),
                ("reply", load(&d.replies)),
            ],
        )?;
        s.counters(
            "ironpool_rack_dhcp6_problems_total",
            "DHCPv6 datagrams dropped or not answered, by reason.",
            "reason",
            &[
                ("malformed", load(&d.malformed)),
                ("ignored", load(&d.ignored)),
                ("exhausted", load(&d.exhausted)),
                ("send_error", load(&d.send_errors)),
            ],
        )?;
    }

    // TFTP.
    if let Some(t) = state.tftp_stats() {
        s.counter("ironpool_rack_tftp_requests_total", "TFTP read requests received.", load(&t.requests))?;
        s.counters(
            "ironpool_rack_tftp_transfers_total",
            "TFTP transfers by outcome (unconfirmed: every block sent, the last ACK never came).",
            "result",
            &[("completed", load(&t.completed)), ("unconfirmed", load(&t.unconfirmed)), ("failed", load(&t.failed))],
        )?;
        s.counters(
            "ironpool_rack_tftp_refusals_total",
            "TFTP requests refused, by reason.",
            "reason",
            &[
                ("not_found", load(&t.not_found)),
                ("refused", load(&t.refused)),
                ("busy", load(&t.busy)),
                ("malformed", load(&t.malformed)),
                ("wait_expired", load(&t.wait_expired)),
            ],
        )?;
        s.counter(
            "ironpool_rack_tftp_waited_total",
            "TFTP requests that waited for a free transfer slot before starting.",
            load(&t.waited),
        )?;
        s.counter("ironpool_rack_tftp_sent_bytes_total", "Bytes of completed TFTP transfers.", load(&t.bytes_sent))?;
        s.counter("ironpool_rack_tftp_retransmits_total", "TFTP blocks sent again.", load(&t.retransmits))?;
        s.counter(
            "ironpool_rack_tftp_windowed_total",
            "TFTP transfers that negotiated a window larger than one block (RFC 7440).",
            load(&t.windowed),
        )?;
    }

    // The HTTP boot server.
    let http = IntCounterVec::new(
        Opts::new("ironpool_rack_http_responses_total", "HTTP boot server responses, by route and status."),
        &["route", "status"],
    )?;
    for ((route, status), n) in state.http_responses() {
        http.with_label_values(&[route, &status.to_string()]).inc_by(n);
    }
    s.registry.register(Box::new(http))?;

    let mut out = Vec::new();
    TextEncoder::new().encode(&s.registry.gather(), &mut out)?;
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_rack_renders_its_link_series_and_no_server_series() {
        let state = RackState::default();
        let text = render(&state).expect("render");
        assert!(text.contains("ironpool_rack_region_connected 0"), "{text}");
        assert!(text.contains("ironpool_rack_syncs_total 0"), "{text}");
        assert!(text.contains("ironpool_rack_pending_reports{kind=\"lease\"} 0"), "{text}");
        // Nothing synced yet: no age, rather than a made-up one.
        assert!(!text.contains("ironpool_rack_last_sync_age_seconds"), "{text}");
        // Servers that never ran have no series.
        assert!(!text.contains("ironpool_rack_dhcp_"), "{text}");
        assert!(!text.contains("ironpool_rack_tftp_"), "{text}");
        state.synced();
        state.http_response("script", 200);
        state.http_response("script", 200);
        state.http_response("proxy", 502);
        let text = render(&state).expect("render");
        assert!(text.contains("ironpool_rack_syncs_total 1"), "{text}");
        assert!(text.contains("ironpool_rack_last_sync_age_seconds "), "{text}");
        assert!(text.contains("ironpool_rack_http_responses_total{route=\"script\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("ironpool_rack_http_responses_total{route=\"proxy\",status=\"502\"} 1"), "{text}");
    }
}
