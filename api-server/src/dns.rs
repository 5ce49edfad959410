//! The region's authoritative DNS server (hickory-server), UDP and TCP.
//!
//! It answers for every authoritative domain (machines' and devices'
//! addresses as `<hostname>.<domain>`, user DNS resources and records, SOA
//! and NS at the apex) and for the reverse zones of subnets with reverse DNS
//! enabled (PTR). Each query reads the database through
//! [`engine::dns::lookup`]: a handful of indexed lookups by name or address,
//! so there is no zone cache to keep in step and a change (a deploy, a
//! release, an API edit) is visible on the very next query.
//!
//! Not a resolver: a name outside our zones is REFUSED, and zone transfers
//! (AXFR/IXFR) are refused too, as there are no secondaries to serve.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{self, sshfp};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::db::Datastore;
use crate::engine;
use crate::engine::dns::{Lookup, Rdata};
use crate::error::{Error, Result};

/// Binds UDP and TCP on `bind` (the same port for both; port 0 picks one
/// free for both) and serves in the background. Must be called inside the
/// region's runtime.
pub fn start(bind: &str, db: Datastore) -> Result<SocketAddr> {
    let want: SocketAddr =
        bind.parse().map_err(|e| Error::Internal(format!("invalid dns_bind '{bind}': {e} (want ip:port)")))?;
    let mut last = String::new();
    // With port 0 the UDP port may be taken for TCP by someone else: retry.
    for _ in 0..10 {
        let udp =
            std::net::UdpSocket::bind(want).map_err(|e| Error::Internal(format!("cannot bind DNS on {want}: {e}")))?;
        let addr = udp.local_addr().map_err(Error::internal)?;
        let tcp = match std::net::TcpListener::bind(addr) {
            Ok(t) => t,
            Err(e) if want.port() == 0 => {
                last = e.to_string();
                continue;
            }
            Err(e) => return Err(Error::Internal(format!("cannot bind DNS (TCP) on {addr}: {e}"))),
        };
        udp.set_nonblocking(true).map_err(Error::internal)?;
        tcp.set_nonblocking(true).map_err(Error::internal)?;
        let udp = tokio::net::UdpSocket::from_std(udp).map_err(Error::internal)?;
        let tcp = tokio::net::TcpListener::from_std(tcp).map_err(Error::internal)?;
        let mut server = Server::new(Zones { db });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 64);
        // The server's tasks live as long as it does: keep it in a task.
        tokio::spawn(async move {
            if let Err(e) = server.block_until_done().await {
                tracing::error!(error = %e, "DNS server stopped");
            }
        });
        tracing::info!(%addr, "DNS server listening");
        return Ok(addr);
    }
    Err(Error::Internal(format!("cannot bind DNS on {want}: {last}")))
}

/// The request handler: our zones, read from the database.
struct Zones {
    db: Datastore,
}

fn name(s: &str) -> Option<Name> {
    Name::from_ascii(s).ok()
}

/// A record for hickory, or `None` for data it cannot represent (then it
/// is left out rather than failing the whole answer).
fn record(owner: &Name, ttl: u32, d: &Rdata) -> Option<Record> {
    let rd = match d {
        Rdata::A(a) => RData::A(rdata::A(*a)),
        Rdata::Aaaa(a) => RData::AAAA(rdata::AAAA(*a)),
        Rdata::Name("CNAME", t) => RData::CNAME(rdata::CNAME(name(t)?)),
        Rdata::Name("NS", t) => RData::NS(rdata::NS(name(t)?)),
        Rdata::Name(_, t) => RData::PTR(rdata::PTR(name(t)?)),
        Rdata::Mx(p, t) => RData::MX(rdata::MX::new(*p, name(t)?)),
        Rdata::Srv(p, w, port, t) => RData::SRV(rdata::SRV::new(*p, *w, *port, name(t)?)),
        Rdata::Sshfp(a, f, fp) => {
            RData::SSHFP(rdata::SSHFP::new(sshfp::Algorithm::from(*a), sshfp::FingerprintType::from(*f), fp.clone()))
        }
        // A TXT string is at most 255 bytes: longer text is split.
        Rdata::Txt(t) => RData::TXT(rdata::TXT::new(
            t.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect(),
        )),
        Rdata::Soa { mname, rname, serial, minimum } => {
            RData::SOA(rdata::SOA::new(name(mname)?, name(rname)?, *serial, 3600, 600, 604800, *minimum))
        }
    };
    Some(Record::from_rdata(owner.clone(), ttl, rd))
}

impl Zones {
    async fn send<R: ResponseHandler>(
        request: &Request,
        mut handle: R,
        code: ResponseCode,
        authoritative: bool,
        answers: &[Record],
        authority: &[Record],
    ) -> ResponseInfo {
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.response_code = code;
        meta.authoritative = authoritative;
        meta.recursion_available = false;
        let resp = MessageResponseBuilder::from_message_request(request).build(
            meta,
            answers.iter(),
            authority.iter(),
            std::iter::empty(),
            std::iter::empty(),
        );
        match handle.send_response(resp).await {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(error = %e, "DNS response not sent");
                let mut m = Metadata::response_from_request(&request.metadata);
                m.response_code = ResponseCode::ServFail;
                hickory_proto::op::Header { metadata: m, counts: Default::default() }.into()
            }
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Zones {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, handle: R) -> ResponseInfo {
        if request.metadata.message_type != MessageType::Query || request.metadata.op_code != OpCode::Query {
            return Self::send(request, handle, ResponseCode::NotImp, false, &[], &[]).await;
        }
        let Some(q) = request.queries.queries().first() else {
            return Self::send(request, handle, ResponseCode::FormErr, false, &[], &[]).await;
        };
        let qtype = q.query_type();
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Self::send(request, handle, ResponseCode::Refused, false, &[], &[]).await;
        }
        let owner: Name = q.name().into();
        let qname = owner.to_ascii();
        let found = {
            let qname = qname.clone();
            self.db.run(move |c| engine::dns::lookup(c, &qname)).await
        };
        let (apex, soa, exists, records) = match found {
            Ok(Lookup::Zone { apex, soa, exists, records }) => (apex, soa, exists, records),
            Ok(Lookup::Refused) => return Self::send(request, handle, ResponseCode::Refused, false, &[], &[]).await,
            Err(e) => {
                tracing::warn!(error = %e, %qname, "DNS lookup failed");
                return Self::send(request, handle, ResponseCode::ServFail, false, &[], &[]).await;
            }
        };
        let wanted = qtype.to_string();
        // A CNAME answers every type at its name.
        let cname = records.iter().any(|(_, d)| d.rrtype() == "CNAME");
        let answers: Vec<Record> = records
            .iter()
            .filter(|(_, d)| qtype == RecordType::ANY || d.rrtype() == wanted || (cname && d.rrtype() == "CNAME"))
            .filter_map(|(ttl, d)| record(&owner, *ttl, d))
            .collect();
        // Negative answers carry the zone's SOA (RFC 2308) so caches know
        // how long to remember them.
        let authority: Vec<Record> = if answers.is_empty() {
            name(&apex).and_then(|a| record(&a, soa.0, &soa.1)).into_iter().collect()
        } else {
            Vec::new()
        };
        let code = if exists { ResponseCode::NoError } else { ResponseCode::NXDomain };
        Self::send(request, handle, code, true, &answers, &authority).await
    }
}
