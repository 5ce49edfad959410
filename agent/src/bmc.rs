//! BMC detection and configuration: what MAAS's built-in commissioning
//! script `30-maas-01-bmc-config` does for IPMI, done by the agent itself
//! over the kernel's IPMI device (`/dev/ipmi0`, the host interface: KCS,
//! SMIC, BT or SSIF), so the ephemeral environment needs no ipmitool,
//! freeipmi or Python.
//!
//! On a machine with an IPMI BMC it:
//! 1. loads `ipmi_msghandler`, `ipmi_devintf`, `ipmi_si` and `ipmi_ssif`
//!    (failures are normal on hardware without a BMC) and waits briefly for
//!    `/dev/ipmi0`;
//! 2. reads the BMC's IPMI version (Get Device ID: `LAN_2_0` from 2.0 on,
//!    else `LAN`) and finds its LAN channel (Get Channel Info, 802.3);
//! 3. makes the channel always available with user-level and per-message
//!    authentication (MAAS's Lan_Channel settings; a BMC that refuses gets a
//!    warning, as in MAAS);
//! 4. picks the user slot named `maas` (or the username asked for), else
//!    the first slot without a name (slot 1 is the anonymous user), and sets
//!    its name, a random password (MAAS's four password shapes, tried in
//!    turn until the BMC takes one), enables it, and gives it the privilege
//!    asked for (ADMIN by default) with IPMI messaging on the LAN channel;
//! 5. sets a K_g key when one is asked for (failing the script if the BMC
//!    refuses it: the system cannot be secured as requested), else reports
//!    an existing non-zero one;
//! 6. reads the BMC's IPv4 address and MAC from the LAN configuration; an
//!    address of 0.0.0.0 makes it try a static source, then DHCP, as MAAS
//!    does, and fail if the BMC still has none.
//!
//! The result is MAAS's power parameters for `ipmi` (`power_address`,
//! `power_user`, `power_pass`, `power_driver`, `power_boot_type`, `k_g`,
//! `cipher_suite_id`, `privilege_level`, `mac_address`), which the runner
//! sends with the script's result (`power_type` + `power_parameters` on the
//! signal). The password is never printed.
//!
//! Differences from MAAS, on purpose: MAAS skips detection on any virtual
//! machine (`systemd-detect-virt`); the agent looks for an IPMI device
//! instead, so a VM given an emulated BMC (qemu `isa-ipmi-kcs` +
//! `ipmi-bmc-extern`, how the end-to-end test stands in for hardware) is
//! configured like a server, and a VM without one finds nothing. IPv6-only
//! BMCs, Redfish host interfaces, HP Moonshot and Wedge switches are not
//! detected.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

/// The built-in commissioning script this module answers.
pub const BMC_CONFIG_SCRIPT: &str = "30-maas-01-bmc-config";

/// What the script was asked for (MAAS's arguments: `--username`,
/// `--password`, `--ipmi-k-g`, `--ipmi-privilege-level`,
/// `--ipmi-cipher-suite-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub username: String,
    pub password: Option<String>,
    pub k_g: String,
    /// USER, OPERATOR or ADMIN.
    pub privilege_level: String,
    pub cipher_suite_id: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            username: "maas".into(),
            password: None,
            k_g: String::new(),
            privilege_level: "ADMIN".into(),
            cipher_suite_id: "3".into(),
        }
    }
}

impl Options {
    /// Parses the script's arguments with MAAS's checks (20-character
    /// limits from IPMI 2.0, the choices). Empty values keep the defaults,
    /// as an unset MAAS parameter does.
    pub fn from_args(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        for a in args {
            let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
            match k {
                "--username" | "-u" if !v.is_empty() => o.username = v.to_string(),
                "--password" | "-p" if !v.is_empty() => o.password = Some(v.to_string()),
                "--ipmi-k-g" => o.k_g = v.to_string(),
                "--ipmi-privilege-level" if !v.is_empty() => {
                    if !["USER", "OPERATOR", "ADMIN"].contains(&v) {
                        return Err(format!(
                            "argument --ipmi-privilege-level: invalid choice: '{v}' (choose from 'USER', 'OPERATOR', 'ADMIN')"
                        ));
                    }
                    o.privilege_level = v.to_string();
                }
                "--ipmi-cipher-suite-id" if !v.is_empty() => {
                    if !["3", "8", "12", "17"].contains(&v) {
                        return Err(format!(
                            "argument --ipmi-cipher-suite-id: invalid choice: '{v}' (choose from '3', '8', '12', '17')"
                        ));
                    }
                    o.cipher_suite_id = v.to_string();
                }
                "--username" | "-u" | "--password" | "-p" | "--ipmi-privilege-level" | "--ipmi-cipher-suite-id" => {}
                other => return Err(format!("unrecognized arguments: {other}")),
            }
        }
        if o.username.len() > 20 {
            return Err("Username must be 20 characters or less!".into());
        }
        if o.password.as_ref().is_some_and(|p| p.len() > 20) {
            return Err("Password must be 20 characters or less!".into());
        }
        if !o.k_g.is_empty() && kg_bytes(&o.k_g).is_none() {
            return Err("IPMI K_g key must be 20 characters long, or 40 characters long and prefixed with '0x' if in hex-encoded format.".into());
        }
        Ok(o)
    }

    fn privilege(&self) -> u8 {
        match self.privilege_level.as_str() {
            "USER" => 2,
            "OPERATOR" => 3,
            _ => 4,
        }
    }

    /// freeipmi's name for the level (what MAAS prints).
    fn privilege_name(&self) -> &'static str {
        match self.privilege_level.as_str() {
            "USER" => "User",
            "OPERATOR" => "Operator",
            _ => "Administrator",
        }
    }
}

/// A K_g key as its 20 bytes: 20 characters, or `0x` and 40 hex digits.
fn kg_bytes(k: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    if let Some(hex) = k.strip_prefix("0x") {
        if hex.len() != 40 {
            return None;
        }
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    } else if k.len() == 20 {
        out.copy_from_slice(k.as_bytes());
        Some(out)
    } else {
        None
    }
}

/// How the script ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Both, in order.
    pub combined: Vec<u8>,
    pub exit_status: i32,
    /// `(power_type, power_parameters)` when a BMC was configured.
    pub power: Option<(String, serde_json::Value)>,
}

impl Outcome {
    fn info(&mut self, line: impl AsRef<str>) {
        let l = format!("{}\n", line.as_ref());
        self.stdout.extend_from_slice(l.as_bytes());
        self.combined.extend_from_slice(l.as_bytes());
    }

    fn error(&mut self, line: impl AsRef<str>) {
        let l = format!("{}\n", line.as_ref());
        self.stderr.extend_from_slice(l.as_bytes());
        self.combined.extend_from_slice(l.as_bytes());
    }

    fn fail(mut self, line: impl AsRef<str>) -> Outcome {
        self.error(line);
        self.exit_status = 1;
        self
    }
}

/// One IPMI request/response path to the BMC.
pub trait Transport {
    /// Sends `netfn`/`cmd` with `data`; the response's data after a zero
    /// completion code, or why not.
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, String>;
}

const NETFN_APP: u8 = 0x06;
const NETFN_TRANSPORT: u8 = 0x0c;

/// The script, on this machine: modules, the device, then [`configure`].
pub fn run(args: &[String]) -> Outcome {
    let mut out = Outcome::default();
    let opts = match Options::from_args(args) {
        Ok(o) => o,
        Err(e) => return out.fail(format!("ERROR: {e}")),
    };
    out.info("INFO: Loading IPMI kernel modules...");
    for m in ["ipmi_msghandler", "ipmi_devintf", "ipmi_si", "ipmi_ssif"] {
        // Missing hardware makes ipmi_si/ipmi_ssif fail to load: expected.
        let _ = std::process::Command::new("modprobe")
            .arg("-q")
            .arg(m)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    out.info("INFO: Checking for IPMI...");
    let dev = (0..30).find_map(|i| {
        let found = ["/dev/ipmi0", "/dev/ipmi/0", "/dev/ipmidev/0"].into_iter().find(|p| Path::new(p).exists());
        if found.is_none() && i < 29 {
            std::thread::sleep(Duration::from_millis(200));
        }
        found
    });
    let Some(dev) = dev else {
        out.info("INFO: No IPMI detected.");
        out.info("INFO: No BMC automatically detected!");
        return out;
    };
    match devintf::Device::open(dev) {
        Ok(mut d) => {
            out.info(format!("INFO: IPMI detected! ({dev})"));
            configure(&mut d, &opts, out, Path::new("/sys/firmware/efi").is_dir(), &mut urandom)
        }
        Err(e) => out.fail(format!("ERROR: cannot open {dev}: {e}")),
    }
}

fn urandom(buf: &mut [u8]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(buf);
    }
}

/// MAAS's password shapes: 10–15 letters and digits; 16–20 of them (some
/// BMCs want longer ones); and two with upper, lower, digits and a special
/// character, no character twice in a row (vendors' stricter policies).
pub fn candidate_passwords(rand: &mut dyn FnMut(&mut [u8])) -> Vec<String> {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"0123456789";
    const SPECIAL: &[u8] = b"!#$%&()*+-,./:;<=>?@[]^_{|}~";
    let mut pool = Pool { bytes: vec![0u8; 4096], at: 0 };
    rand(&mut pool.bytes);
    let plain = |p: &mut Pool, lo: usize, hi: usize| {
        let n = p.between(lo, hi);
        String::from_utf8_lossy(&p.pick(ALNUM, n)).into_owned()
    };
    let special = |p: &mut Pool, lo: usize, hi: usize| {
        let n = p.between(lo, hi);
        let mut chars: Vec<u8> = Vec::new();
        for (set, k) in [(UPPER, 2), (LOWER, 2), (DIGIT, 2), (SPECIAL, 1), (ALNUM, n - 7)] {
            chars.extend(p.pick(set, k));
        }
        // Shuffle until no character repeats next to itself.
        for _ in 0..64 {
            let mut keyed: Vec<(u8, u8)> = chars.iter().map(|c| (p.next(), *c)).collect();
            keyed.sort();
            let shuffled: Vec<u8> = keyed.into_iter().map(|(_, c)| c).collect();
            if shuffled.windows(2).all(|w| w[0] != w[1]) {
                return String::from_utf8_lossy(&shuffled).into_owned();
            }
        }
        chars.dedup();
        String::from_utf8_lossy(&chars).into_owned()
    };
    let a = plain(&mut pool, 10, 15);
    let b = plain(&mut pool, 16, 20);
    let c = special(&mut pool, 10, 15);
    let d = special(&mut pool, 13, 20);
    vec![a, b, c, d]
}

/// Random bytes handed out one at a time (wrapping: enough for the four
/// passwords whatever the shuffles take).
struct Pool {
    bytes: Vec<u8>,
    at: usize,
}

impl Pool {
    fn next(&mut self) -> u8 {
        let b = self.bytes[self.at % self.bytes.len()];
        self.at += 1;
        b
    }

    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + usize::from(self.next()) % (hi - lo + 1)
    }

    fn pick(&mut self, set: &[u8], n: usize) -> Vec<u8> {
        (0..n).map(|_| set[usize::from(self.next()) % set.len()]).collect()
    }
}

/// Configures the BMC behind `t` (steps 2–6 of the module doc).
pub fn configure(
    t: &mut dyn Transport,
    opts: &Options,
    mut out: Outcome,
    efi: bool,
    rand: &mut dyn FnMut(&mut [u8]),
) -> Outcome {
    // 2. Version and LAN channel.
    let version = match t.call(NETFN_APP, 0x01, &[]) {
        Ok(r) if r.len() >= 5 => r[4],
        Ok(_) => return out.fail("ERROR: the BMC's Get Device ID answer is too short"),
        Err(e) => return out.fail(format!("ERROR: the BMC does not answer Get Device ID: {e}")),
    };
    // BCD: bits 3:0 the major version, 7:4 the minor (0x51 is 1.5).
    let driver = if version & 0x0f >= 2 { "LAN_2_0" } else { "LAN" };
    out.info(format!("INFO: IPMI Version - {driver} ({}.{})", version & 0x0f, version >> 4));
    let channel = (1u8..=11)
        .find(|ch| t.call(NETFN_APP, 0x42, &[*ch]).is_ok_and(|r| r.len() >= 2 && r[1] & 0x7f == 0x04))
        .unwrap_or(1);
    out.info(format!("INFO: IPMI LAN channel - {channel}"));

    // 3. The channel: always available, user-level and per-message
    // authentication and PEF alerting enabled, non-volatile then volatile.
    out.info("INFO: Configuring IPMI Lan_Channel...");
    for (which, set) in [("Non_Volatile_Access_Mode", 0x40u8), ("Volatile_Access_Mode", 0x80u8)] {
        if let Err(e) = t.call(NETFN_APP, 0x40, &[channel, set | 0x02, 0x00]) {
            out.info(format!(
                "WARNING: Unable to set Lan_Channel:{which} ({e}). BMC may be unavailable over the network!"
            ));
        }
    }

    // 4. The user.
    let max_users = match t.call(NETFN_APP, 0x44, &[channel, 1]) {
        Ok(r) if !r.is_empty() => (r[0] & 0x3f).max(2),
        _ => 16,
    };
    let mut existing = None;
    let mut first_unused = None;
    for uid in 2..=max_users {
        let Ok(r) = t.call(NETFN_APP, 0x46, &[uid]) else { continue };
        let name = String::from_utf8_lossy(&r).trim_end_matches('\0').trim().to_string();
        if name == opts.username {
            existing = Some(uid);
            break;
        }
        if (name.is_empty() || name == "(Empty User)") && first_unused.is_none() {
            first_unused = Some(uid);
        }
    }
    if existing.is_some() {
        out.info(format!("INFO: Found existing IPMI user \"{}\"!", opts.username));
    }
    let Some(uid) = existing.or(first_unused) else {
        return out.fail("ERROR: Unable to add BMC user! (no free user slot)");
    };
    out.info(format!("INFO: Configuring IPMI BMC user \"{}\"...", opts.username));
    out.info(format!("INFO: IPMI user number - User{uid}"));
    out.info(format!("INFO: IPMI user privilege level - {}", opts.privilege_name()));
    let passwords = match &opts.password {
        Some(p) => vec![p.clone()],
        None => candidate_passwords(rand),
    };
    let mut name = [0u8; 16];
    let n = opts.username.len().min(16);
    name[..n].copy_from_slice(&opts.username.as_bytes()[..n]);
    let mut chosen = None;
    for pw in passwords {
        let attempt = (|| -> Result<(), String> {
            // Some BMCs (Dell R420) want the name and password before the
            // user is enabled, others (Supermicro) the privilege before
            // IPMI messaging: this order suits both.
            if existing.is_none() {
                t.call(NETFN_APP, 0x45, &[&[uid][..], &name].concat())?;
            }
            let long = pw.len() > 16;
            let mut buf = vec![0u8; if long { 20 } else { 16 }];
            buf[..pw.len()].copy_from_slice(pw.as_bytes());
            let uid_byte = if long { uid | 0x80 } else { uid };
            t.call(NETFN_APP, 0x47, &[&[uid_byte, 0x02][..], &buf].concat())?;
            t.call(NETFN_APP, 0x47, &[uid, 0x01])?;
            // Change bits, link auth, IPMI messaging, the channel; the
            // privilege limit; no session limit.
            t.call(NETFN_APP, 0x43, &[0x80 | 0x20 | 0x10 | channel, uid, opts.privilege(), 0x00])?;
            Ok(())
        })();
        match attempt {
            Ok(()) => {
                chosen = Some(pw);
                break;
            }
            Err(e) => out.info(format!("INFO: the BMC refused the user settings ({e}); trying another password")),
        }
    }
    let Some(password) = chosen else {
        return out.fail("ERROR: Unable to add BMC user!");
    };

    // 5. K_g.
    let mut k_g = String::new();
    if !opts.k_g.is_empty() {
        out.info("INFO: Setting user given IPMI K_g BMC key...");
        let key = kg_bytes(&opts.k_g).unwrap_or([0; 20]);
        if let Err(e) = t.call(NETFN_APP, 0x56, &[&[channel, 0x01, 0x01][..], &key].concat()) {
            return out.fail(format!("ERROR: Unable to set usergiven BMC key on device! ({e})"));
        }
        k_g = opts.k_g.clone();
    } else if let Ok(r) = t.call(NETFN_APP, 0x56, &[channel, 0x00, 0x01]) {
        // [lock status, key...]: a key that is not all zero is in use.
        let key = r.get(1..).unwrap_or(&[]);
        if key.iter().any(|b| *b != 0) {
            out.info("INFO: Found existing K_g BMC key!");
            k_g = format!("0x{}", key.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
    }
    if k_g.is_empty() {
        out.info("WARNING: No K_g BMC key found or configured, communication with BMC will not use a session key!");
    }

    // 6. The BMC's address.
    let get = |t: &mut dyn Transport, param: u8| t.call(NETFN_TRANSPORT, 0x02, &[channel, param, 0, 0]);
    let ip = |t: &mut dyn Transport| -> Option<String> {
        let r = get(t, 3).ok()?;
        let a = r.get(1..5)?;
        (a != [0, 0, 0, 0]).then(|| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]))
    };
    let mut address = ip(t);
    if address.is_none() {
        for (what, source) in [("a preconfigured static IP", 0x01u8), ("DHCP", 0x02u8)] {
            out.info(format!("INFO: Attempting to enable {what} on BMC..."));
            let _ = t.call(NETFN_TRANSPORT, 0x01, &[channel, 4, source]);
            for _ in 0..6 {
                std::thread::sleep(Duration::from_secs(5));
                address = ip(t);
                if address.is_some() {
                    break;
                }
            }
            if address.is_some() {
                if source == 0x02 {
                    out.info("WARNING: BMC is configured to use DHCP!");
                }
                break;
            }
        }
    }
    let Some(address) = address else {
        return out.fail("ERROR: Unable to determine BMC IP address!");
    };
    let mac = get(t, 5)
        .ok()
        .and_then(|r| r.get(1..7).map(|m| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")));
    out.info(format!("INFO: BMC IP address - {address}"));
    let boot_type = if efi { "efi" } else { "auto" };
    out.info(format!("INFO: IPMI boot type - {boot_type}"));
    out.info("INFO: IPMI BMC configured; its credentials go to the region with this result.");
    out.power = Some((
        "ipmi".into(),
        json!({
            "power_address": address,
            "power_user": opts.username,
            "power_pass": password,
            "power_driver": driver,
            "power_boot_type": boot_type,
            "k_g": k_g,
            "cipher_suite_id": opts.cipher_suite_id,
            "privilege_level": opts.privilege_level,
            "mac_address": mac,
        }),
    ));
    out
}

/// The kernel's IPMI device interface (`linux/ipmi.h`): requests go to the
/// system interface address (the BMC), answers are read back after a poll.
mod devintf {
    use std::fs::File;
    use std::os::fd::AsRawFd;

    use super::Transport;

    const IPMI_SYSTEM_INTERFACE_ADDR_TYPE: i32 = 0x0c;
    const IPMI_BMC_CHANNEL: i16 = 0x0f;
    const IPMI_RESPONSE_RECV_TYPE: i32 = 1;

    #[repr(C)]
    struct SystemInterfaceAddr {
        addr_type: i32,
        channel: i16,
        lun: u8,
    }

    #[repr(C)]
    struct Msg {
        netfn: u8,
        cmd: u8,
        data_len: u16,
        data: *mut u8,
    }

    #[repr(C)]
    struct Req {
        addr: *mut u8,
        addr_len: u32,
        msgid: libc::c_long,
        msg: Msg,
    }

    #[repr(C)]
    struct Recv {
        recv_type: i32,
        addr: *mut u8,
        addr_len: u32,
        msgid: libc::c_long,
        msg: Msg,
    }

    // _IOR('i', 13, struct ipmi_req) and _IOWR('i', 11, struct ipmi_recv).
    const IPMICTL_SEND_COMMAND: libc::c_ulong =
        (2 << 30) | ((std::mem::size_of::<Req>() as libc::c_ulong) << 16) | (0x69 << 8) | 13;
    const IPMICTL_RECEIVE_MSG_TRUNC: libc::c_ulong =
        (3 << 30) | ((std::mem::size_of::<Recv>() as libc::c_ulong) << 16) | (0x69 << 8) | 11;

    pub struct Device {
        file: File,
        seq: libc::c_long,
    }

    impl Device {
        pub fn open(path: &str) -> std::io::Result<Device> {
            let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
            Ok(Device { file, seq: 0 })
        }

        fn send(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<(), String> {
            let mut addr =
                SystemInterfaceAddr { addr_type: IPMI_SYSTEM_INTERFACE_ADDR_TYPE, channel: IPMI_BMC_CHANNEL, lun: 0 };
            let mut body = data.to_vec();
            self.seq += 1;
            let mut req = Req {
                addr: (&mut addr as *mut SystemInterfaceAddr).cast(),
                addr_len: std::mem::size_of::<SystemInterfaceAddr>() as u32,
                msgid: self.seq,
                msg: Msg { netfn, cmd, data_len: body.len() as u16, data: body.as_mut_ptr() },
            };
            // SAFETY: `req` and the address and data it points to live
            // across the call; the kernel copies them in before returning.
            let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), IPMICTL_SEND_COMMAND as _, &mut req as *mut Req) };
            if rc < 0 {
                return Err(format!("send: {}", std::io::Error::last_os_error()));
            }
            Ok(())
        }

        fn receive(&mut self) -> Result<Option<Vec<u8>>, String> {
            let mut pfd = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
            if n < 0 {
                return Err(format!("poll: {}", std::io::Error::last_os_error()));
            }
            if n == 0 {
                return Err("no answer from the BMC within 5 s".into());
            }
            let mut addr = [0u8; 64];
            let mut data = vec![0u8; 1024];
            let mut recv = Recv {
                recv_type: 0,
                addr: addr.as_mut_ptr(),
                addr_len: addr.len() as u32,
                msgid: 0,
                msg: Msg { netfn: 0, cmd: 0, data_len: data.len() as u16, data: data.as_mut_ptr() },
            };
            // SAFETY: the buffers `recv` points to are as long as it says
            // and outlive the call; the kernel writes at most that much.
            let rc =
                unsafe { libc::ioctl(self.file.as_raw_fd(), IPMICTL_RECEIVE_MSG_TRUNC as _, &mut recv as *mut Recv) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                // A truncated message still delivers what fitted.
                if e.raw_os_error() != Some(libc::EMSGSIZE) {
                    return Err(format!("receive: {e}"));
                }
            }
            if recv.recv_type != IPMI_RESPONSE_RECV_TYPE || recv.msgid != self.seq {
                return Ok(None); // an event or a stale answer: keep waiting
            }
            data.truncate(usize::from(recv.msg.data_len));
            Ok(Some(data))
        }
    }

    impl Transport for Device {
        fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, String> {
            self.send(netfn, cmd, data)?;
            for _ in 0..8 {
                if let Some(r) = self.receive()? {
                    return match r.split_first() {
                        Some((0, rest)) => Ok(rest.to_vec()),
                        Some((cc, _)) => Err(format!("completion code 0x{cc:02x}")),
                        None => Err("an empty answer".into()),
                    };
                }
            }
            Err("no answer to this request".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BMC as the IPMI specification describes it, in memory: what the
    /// configuration steps read and write, so their order and bytes are
    /// checked without hardware (the qemu end-to-end test drives the real
    /// path through the kernel to OpenIPMI's simulator).
    struct Bmc {
        names: Vec<[u8; 16]>,
        passwords: Vec<Vec<u8>>,
        enabled: Vec<bool>,
        privilege: Vec<u8>,
        ip: [u8; 4],
        refuse_long: bool,
        calls: Vec<(u8, u8, Vec<u8>)>,
    }

    impl Bmc {
        fn new() -> Bmc {
            let mut names = vec![[0u8; 16]; 11];
            names[2][..5].copy_from_slice(b"admin");
            Bmc {
                names,
                passwords: vec![Vec::new(); 11],
                enabled: vec![false; 11],
                privilege: vec![0; 11],
                ip: [10, 0, 0, 9],
                refuse_long: false,
                calls: Vec::new(),
            }
        }
    }

    impl Transport for Bmc {
        fn call(&mut self, netfn: u8, cmd: u8, d: &[u8]) -> Result<Vec<u8>, String> {
            self.calls.push((netfn, cmd, d.to_vec()));
            match (netfn, cmd) {
                (NETFN_APP, 0x01) => Ok(vec![0x20, 0x01, 0x02, 0x00, 0x02, 0xbf]),
                (NETFN_APP, 0x42) => Ok(vec![d[0], if d[0] == 1 { 0x04 } else { 0x05 }, 0x01, 0, 0, 0, 0, 0, 0]),
                (NETFN_APP, 0x40) => Ok(vec![]),
                (NETFN_APP, 0x44) => Ok(vec![10, 1, 0, 0]),
                (NETFN_APP, 0x46) => Ok(self.names[usize::from(d[0])].to_vec()),
                (NETFN_APP, 0x45) => {
                    self.names[usize::from(d[0])].copy_from_slice(&d[1..17]);
                    Ok(vec![])
                }
                (NETFN_APP, 0x47) => {
                    let uid = usize::from(d[0] & 0x3f);
                    match d[1] {
                        0x01 => self.enabled[uid] = true,
                        0x02 if d.len() > 18 && self.refuse_long => return Err("completion code 0xcc".into()),
                        0x02 => {
                            let pw: Vec<u8> = d[2..].iter().copied().take_while(|b| *b != 0).collect();
                            if pw.len() < 14 {
                                // A vendor policy: at least 14 characters.
                                return Err("completion code 0xcc".into());
                            }
                            self.passwords[uid] = pw
                        }
                        _ => {}
                    }
                    Ok(vec![])
                }
                (NETFN_APP, 0x43) => {
                    self.privilege[usize::from(d[1])] = d[2];
                    Ok(vec![])
                }
                (NETFN_APP, 0x56) => Err("completion code 0xc1".into()),
                (NETFN_TRANSPORT, 0x02) if d[1] == 3 => Ok([&[0x11][..], &self.ip].concat()),
                (NETFN_TRANSPORT, 0x02) if d[1] == 5 => Ok(vec![0x11, 0x52, 0x54, 0, 0x12, 0x34, 0x56]),
                _ => Err("completion code 0xc1".into()),
            }
        }
    }

    fn counter() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |b: &mut [u8]| {
            for x in b {
                n = n.wrapping_mul(31).wrapping_add(17);
                *x = n;
            }
        }
    }

    #[test]
    fn a_free_slot_becomes_the_maas_admin_and_the_credentials_are_reported() {
        let mut bmc = Bmc::new();
        let out = configure(&mut bmc, &Options::default(), Outcome::default(), false, &mut counter());
        let text = String::from_utf8_lossy(&out.combined).into_owned();
        assert_eq!(out.exit_status, 0, "{text}");
        let (ty, p) = out.power.clone().unwrap();
        assert_eq!(ty, "ipmi");
        assert_eq!(p["power_address"], "10.0.0.9");
        assert_eq!(p["power_user"], "maas");
        assert_eq!(p["power_driver"], "LAN_2_0");
        assert_eq!(p["mac_address"], "52:54:00:12:34:56");
        assert_eq!(p["privilege_level"], "ADMIN");
        // Slot 2 is taken by admin: slot 3 is maas, enabled, administrator,
        // with the password that was reported.
        assert_eq!(&bmc.names[3][..4], b"maas");
        assert!(bmc.enabled[3]);
        assert_eq!(bmc.privilege[3], 4);
        assert_eq!(p["power_pass"].as_str().unwrap().as_bytes(), &bmc.passwords[3][..]);
        assert!(!text.contains(p["power_pass"].as_str().unwrap()), "the password is printed: {text}");
    }

    #[test]
    fn an_existing_maas_user_is_reused_and_a_refused_password_is_replaced() {
        let mut bmc = Bmc::new();
        bmc.names[5][..4].copy_from_slice(b"maas");
        let out = configure(&mut bmc, &Options::default(), Outcome::default(), true, &mut counter());
        assert_eq!(out.exit_status, 0, "{}", String::from_utf8_lossy(&out.combined));
        let p = out.power.unwrap().1;
        // The BMC wants 14+ characters: the first shape (10–15) may be
        // refused, and whatever was accepted is what is reported.
        assert!(p["power_pass"].as_str().unwrap().len() >= 14);
        assert_eq!(p["power_pass"].as_str().unwrap().as_bytes(), &bmc.passwords[5][..]);
        assert_eq!(p["power_boot_type"], "efi");
        assert!(bmc.names[3].iter().all(|b| *b == 0), "a second maas user was made");
        // The name was not rewritten.
        assert!(!bmc.calls.iter().any(|(n, c, _)| (*n, *c) == (NETFN_APP, 0x45)));
    }

    #[test]
    fn no_free_slot_fails_with_maas_message() {
        let mut bmc = Bmc::new();
        for n in bmc.names.iter_mut().skip(2) {
            n[..4].copy_from_slice(b"user");
        }
        let out = configure(&mut bmc, &Options::default(), Outcome::default(), false, &mut counter());
        assert_eq!(out.exit_status, 1);
        assert!(String::from_utf8_lossy(&out.stderr).contains("Unable to add BMC user!"));
    }

    #[test]
    fn arguments_follow_maas_rules() {
        let a = |v: &[&str]| Options::from_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(a(&[]).unwrap(), Options::default());
        let o = a(&["--username=ops", "--ipmi-privilege-level=OPERATOR", "--ipmi-k-g=", "--ipmi-cipher-suite-id=17"])
            .unwrap();
        assert_eq!((o.username.as_str(), o.privilege(), o.cipher_suite_id.as_str()), ("ops", 3, "17"));
        assert!(a(&["--ipmi-privilege-level=ROOT"]).is_err());
        assert!(a(&["--username=abcdefghijklmnopqrstuvwxyz"]).unwrap_err().contains("20 characters"));
        assert!(a(&["--ipmi-k-g=short"]).is_err());
        assert_eq!(kg_bytes(&format!("0x{}", "ab".repeat(20))), Some([0xab; 20]));
    }

    #[test]
    fn passwords_have_maas_shapes() {
        let mut r = counter();
        for _ in 0..20 {
            let p = candidate_passwords(&mut r);
            assert!((10..=15).contains(&p[0].len()) && p[0].chars().all(|c| c.is_ascii_alphanumeric()), "{p:?}");
            assert!((16..=20).contains(&p[1].len()), "{p:?}");
            for s in &p[2..] {
                assert!(s.chars().any(|c| c.is_ascii_uppercase()) && s.chars().any(|c| c.is_ascii_digit()), "{s}");
                assert!(s.chars().any(|c| !c.is_ascii_alphanumeric()), "{s}");
                assert!(s.as_bytes().windows(2).all(|w| w[0] != w[1]), "{s}");
            }
        }
    }
}
