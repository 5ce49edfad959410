//! The network side of a simulated machine in a boot storm: a DHCP client
//! (as a PXE ROM and then as iPXE) and a lock-step TFTP client, written
//! for the storm so a thousand machines fit in one process. DHCP goes out
//! relayed (giaddr = the client's own loopback address), so the rack's
//! server answers by unicast to the client's socket, as it answers a relay.
//! Both retransmit on silence, as firmware does: on a busy machine a
//! datagram can be lost, and a storm must end in every machine booted.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use tokio::net::UdpSocket;

/// Who asks: the NIC's PXE ROM (BIOS, arch 0) or the iPXE it loaded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Firmware {
    Pxe,
    Ipxe,
}

/// What a DISCOVER/REQUEST exchange leased.
#[derive(Debug, Clone)]
pub struct Lease {
    pub ip: Ipv4Addr,
    /// Option 67 (or the BOOTP `file` field): what to load next.
    pub boot_file: String,
    pub exchanges: u32,
}

/// How long to wait for a reply before sending again, and how often.
const DHCP_WAIT: Duration = Duration::from_secs(2);
const DHCP_TRIES: u32 = 8;

fn request(xid: u32, mac: &[u8; 6], kind: MessageType, fw: Firmware, extra: &[DhcpOption]) -> anyhow::Result<Vec<u8>> {
    let mut m = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::LOCALHOST,
        mac,
    );
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(kind));
    o.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(0u16)));
    o.insert(DhcpOption::ClassIdentifier(b"PXEClient:Arch:00000:UNDI:002001".to_vec()));
    if fw == Firmware::Ipxe {
        o.insert(DhcpOption::UserClass(b"iPXE".to_vec()));
    }
    for x in extra {
        o.insert(x.clone());
    }
    m.to_vec().map_err(|e| anyhow::anyhow!("encoding a DHCP message: {e}"))
}

/// Sends `packet` until a reply of `want` for `xid` arrives.
async fn exchange(
    sock: &UdpSocket,
    server: SocketAddr,
    packet: &[u8],
    xid: u32,
    want: MessageType,
) -> anyhow::Result<(Message, u32)> {
    let mut buf = vec![0u8; 1500];
    for attempt in 1..=DHCP_TRIES {
        sock.send_to(packet, server).await?;
        let deadline = tokio::time::Instant::now() + DHCP_WAIT;
        loop {
            let Ok(r) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await else { break };
            let (n, _) = r?;
            let Ok(m) = Message::decode(&mut Decoder::new(&buf[..n])) else { continue };
            if m.xid() != xid {
                continue; // a late reply to an earlier exchange
            }
            match m.opts().msg_type() {
                Some(t) if t == want => return Ok((m, attempt)),
                Some(MessageType::Nak) => bail!("the DHCP server answered NAK"),
                _ => continue,
            }
        }
    }
    bail!("no DHCP {want:?} from {server} after {DHCP_TRIES} tries")
}

/// DISCOVER → OFFER → REQUEST → ACK as `fw` for `mac`.
pub async fn lease(
    sock: &UdpSocket,
    server: SocketAddr,
    mac: &[u8; 6],
    xid: u32,
    fw: Firmware,
) -> anyhow::Result<Lease> {
    let discover = request(xid, mac, MessageType::Discover, fw, &[])?;
    let (offer, a) = exchange(sock, server, &discover, xid, MessageType::Offer).await?;
    let ip = offer.yiaddr();
    let server_id = match offer.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(s)) => *s,
        _ => bail!("the OFFER has no server identifier"),
    };
    let req = request(
        xid,
        mac,
        MessageType::Request,
        fw,
        &[DhcpOption::RequestedIpAddress(ip), DhcpOption::ServerIdentifier(server_id)],
    )?;
    let (ack, b) = exchange(sock, server, &req, xid, MessageType::Ack).await?;
    if ack.yiaddr() != ip {
        bail!("offered {ip} but acknowledged {}", ack.yiaddr());
    }
    let boot_file = match ack.opts().get(OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(f)) => String::from_utf8_lossy(f).trim_end_matches('\0').to_string(),
        _ => ack.fname().map(|f| String::from_utf8_lossy(f).trim_end_matches('\0').to_string()).unwrap_or_default(),
    };
    if boot_file.is_empty() {
        bail!("the ACK for {ip} names no boot file");
    }
    Ok(Lease { ip, boot_file, exchanges: a + b })
}

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;
const TFTP_WAIT: Duration = Duration::from_secs(1);
const TFTP_TRIES: u32 = 10;

fn ack(block: u16) -> [u8; 4] {
    let b = block.to_be_bytes();
    [0, ACK as u8, b[0], b[1]]
}

/// Reads `file` from `server` lock-step (one block in flight, as PXE ROMs
/// and iPXE do) asking for `blksize`; returns the bytes received and how
/// many times a packet had to be sent again.
pub async fn tftp_get(server: SocketAddr, file: &str, blksize: u16) -> anyhow::Result<(u64, u32)> {
    let sock = UdpSocket::bind((server.ip(), 0)).await?;
    let mut rrq = vec![0, RRQ as u8];
    for part in [file, "octet", "blksize", &blksize.to_string(), "tsize", "0"] {
        rrq.extend_from_slice(part.as_bytes());
        rrq.push(0);
    }
    let mut last: Vec<u8> = rrq;
    let mut dest = server;
    let mut peer: Option<SocketAddr> = None;
    let mut size = 512usize;
    let mut next: u16 = 1;
    let mut total = 0u64;
    let mut resent = 0u32;
    let mut buf = vec![0u8; 65536];
    sock.send_to(&last, dest).await?;
    let mut silent = 0;
    loop {
        let (n, from) = match tokio::time::timeout(TFTP_WAIT, sock.recv_from(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                silent += 1;
                if silent >= TFTP_TRIES {
                    bail!("TFTP {file} from {server}: no answer after {TFTP_TRIES} tries ({total} bytes in)");
                }
                resent += 1;
                sock.send_to(&last, dest).await?;
                continue;
            }
        };
        if n < 4 || peer.is_some_and(|p| p != from) {
            continue;
        }
        silent = 0;
        let op = u16::from_be_bytes([buf[0], buf[1]]);
        match op {
            OACK if peer.is_none() => {
                peer = Some(from);
                dest = from;
                let fields: Vec<&[u8]> = buf[2..n].split(|b| *b == 0).collect();
                for kv in fields.chunks(2) {
                    if let [k, v] = kv {
                        if k.eq_ignore_ascii_case(b"blksize") {
                            size = std::str::from_utf8(v).ok().and_then(|v| v.parse().ok()).context("OACK blksize")?;
                        }
                    }
                }
                last = ack(0).to_vec();
                sock.send_to(&last, dest).await?;
            }
            DATA => {
                if peer.is_none() {
                    // The server ignored the options: 512-byte blocks.
                    peer = Some(from);
                    dest = from;
                }
                let block = u16::from_be_bytes([buf[2], buf[3]]);
                if block == next {
                    let len = n - 4;
                    total += len as u64;
                    last = ack(block).to_vec();
                    sock.send_to(&last, dest).await?;
                    next = next.wrapping_add(1);
                    if len < size {
                        return Ok((total, resent));
                    }
                } else if block == next.wrapping_sub(1) {
                    // Our ACK was lost: say it again.
                    resent += 1;
                    sock.send_to(&last, dest).await?;
                }
            }
            ERROR => {
                let msg = String::from_utf8_lossy(&buf[4..n]).trim_end_matches('\0').to_string();
                bail!("TFTP {file} from {server}: error: {msg}");
            }
            _ => {}
        }
    }
}
