//! A qemu VM (TCG) behind a simulated BMC, for the end-to-end tests: OpenIPMI's
//! `ipmi_sim` whose chassis control starts and kills the qemu process (what
//! virtualbmc does for libvirt), so power goes region → rack → freeipmi →
//! BMC → VM. The VM also has the BMC's host side: qemu's `isa-ipmi-kcs` +
//! `ipmi-bmc-extern` connected to the same ipmi_sim (its `serial kcs …
//! codec VM`), so the ephemeral environment's `/dev/ipmi0` reaches it as a
//! server's KCS interface reaches its BMC.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The BMC's MAC, as its LAN configuration reports it.
pub const BMC_MAC: &str = "52:54:00:e2:b0:01";

/// What the VM has: NICs on taps, disks with serials, memory, and whether
/// its memory is split in two NUMA nodes.
pub struct VmSpec {
    /// (tap, MAC, qemu NIC model: `e1000`, `virtio-net-pci`).
    pub nics: Vec<(String, String, String)>,
    /// (raw image file, serial).
    pub disks: Vec<(PathBuf, String)>,
    pub memory_mib: u32,
    pub numa: bool,
}

impl VmSpec {
    fn qemu_args(&self) -> String {
        let mut a = String::new();
        if self.numa {
            let half = self.memory_mib / 2;
            a.push_str(&format!(
                "-object memory-backend-ram,id=m0,size={half}M -object memory-backend-ram,id=m1,size={half}M \
                 -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1 "
            ));
        }
        for (i, (tap, mac, model)) in self.nics.iter().enumerate() {
            a.push_str(&format!(
                "-netdev tap,id=n{i},ifname={tap},script=no,downscript=no -device {model},netdev=n{i},mac={mac} "
            ));
        }
        for (i, (file, serial)) in self.disks.iter().enumerate() {
            a.push_str(&format!(
                "-drive file={},format=raw,if=none,id=d{i} -device virtio-blk-pci,drive=d{i},serial={serial} ",
                file.display()
            ));
        }
        a
    }
}

pub async fn wait<T>(what: &str, timeout: Duration, console: &Path, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            let log = std::fs::read_to_string(console).unwrap_or_default();
            let keep = std::env::temp_dir().join("e2e-console.log");
            let _ = std::fs::write(&keep, &log);
            eprintln!("console kept in {}", keep.display());
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!("timed out after {timeout:?} waiting for {what}; console:\n{}", tail.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The BMC's LAN address: what it reports through KCS is all the region
/// learns, so it listens on IPMI's own port (623) at an address of its own.
pub const BMC_ADDR: &str = "127.0.0.23";

/// ipmi_sim whose chassis power starts and kills the VM; both are stopped
/// on drop.
pub struct Bmc {
    pub dir: PathBuf,
    sim: std::process::Child,
}

impl Bmc {
    pub fn start(dir: &Path, qemu_root: &Path, vm: &VmSpec) -> Bmc {
        let kcs = free_tcp_port();
        let d = dir.display();
        let q = qemu_root.display();
        std::fs::write(
            dir.join("lan.conf"),
            format!(
                "name \"e2ebmc\"\nset_working_mc 0x20\n  startlan 1\n    addr {BMC_ADDR} 623\n    priv_limit admin\n\
                 \x20   allowed_auths_callback none md2 md5 straight\n    allowed_auths_user none md2 md5 straight\n\
                 \x20   allowed_auths_operator none md2 md5 straight\n    allowed_auths_admin none md2 md5 straight\n\
                 \x20   guid a123456789abcdefa123456789abcdee\n    lan_config_program \"{d}/lancontrol.sh eth0\"\n  endlan\n\
                 \x20 serial kcs 127.0.0.1 {kcs} codec VM\n  chassis_control \"{d}/chassis.sh 0x20\"\n\
                 \x20 user 2 true  \"admin\" \"password\" admin 10 none md2 md5 straight\n"
            ),
        )
        .unwrap();
        // The LAN settings the BMC reports (ipmi_sim asks a program).
        std::fs::write(
            dir.join("lancontrol.sh"),
            format!(
                "#!/bin/sh\n[ \"$2\" = get ] || exit 0\nshift 2\nfor p in \"$@\"; do case $p in\n\
                 \x20 ip_addr) echo ip_addr:{BMC_ADDR};;\n  ip_addr_src) echo ip_addr_src:static;;\n\
                 \x20 mac_addr) echo mac_addr:{BMC_MAC};;\n  subnet_mask) echo subnet_mask:255.0.0.0;;\n\
                 \x20 *_ip_addr) echo $p:0.0.0.0;;\n  *_mac_addr) echo $p:00:00:00:00:00:00;;\nesac; done\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("bmc.emu"),
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n\
             sel_enable 0x20 1000 0x0a\nmc_enable 0x20\n",
        )
        .unwrap();
        // Network first, then the disks (iPXE's local-boot answer falls
        // through to them). Every power-on appends to console.log.
        std::fs::write(
            dir.join("vm.sh"),
            format!(
                "#!/bin/sh\necho $$ > {d}/qemu.pid\necho \"=== power on $(date +%s)\" >> {d}/console.log\n\
                 exec {q}/root/usr/bin/qemu-system-x86_64 -L {q}/data -accel tcg -smp 2 -m {mem} -boot order=nc -nographic \
                 {args} -chardev socket,id=ipmi0,host=127.0.0.1,port={kcs},reconnect=2 \
                 -device ipmi-bmc-extern,chardev=ipmi0,id=bmc0 -device isa-ipmi-kcs,bmc=bmc0 \
                 >> {d}/console.log 2>&1 < /dev/null\n",
                mem = vm.memory_mib,
                args = vm.qemu_args(),
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("chassis.sh"),
            r#"#!/bin/sh
dir=$(dirname "$0"); shift; op=$1; shift
running() { [ -s "$dir/qemu.pid" ] && kill -0 "$(cat "$dir/qemu.pid")" 2>/dev/null; }
case $op in
  get) for p in "$@"; do case $p in
         power) if running; then echo power:1; else echo power:0; fi;;
         boot)  echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)";;
         *) echo "Invalid parameter: $p"; exit 1;; esac; done;;
  set) while [ $# -gt 0 ]; do p=$1; v=$2; shift 2; case $p in
         power) if [ "$v" = 1 ]; then
                  running || { setsid "$dir/vm.sh" > /dev/null 2>&1 < /dev/null & sleep 0.2; }
                else
                  running && kill "$(cat "$dir/qemu.pid")"
                fi;;
         boot) echo "$v" > "$dir/boot";;
         shutdown) running && kill "$(cat "$dir/qemu.pid")";;
         reset) ;;  identify) shift;;
         *) echo "Invalid parameter: $p"; exit 1;; esac
         echo "$(date +%s) set $p $v" >> "$dir/chassis.log"; done;;
  *) exit 1;;
esac
"#,
        )
        .unwrap();
        for f in ["chassis.sh", "vm.sh", "lancontrol.sh"] {
            assert!(Command::new("chmod").arg("755").arg(dir.join(f)).status().unwrap().success());
        }
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let sim = Command::new("ipmi_sim")
            .arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("bmc.emu"))
            .arg("-s")
            .arg(dir.join("state"))
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("sim.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("ipmi_sim starts");
        let bmc = Bmc { dir: dir.to_path_buf(), sim };
        let up = (0..50).any(|_| {
            let ok = bmc.ipmitool(&["chassis", "power", "status"]).is_some();
            if !ok {
                std::thread::sleep(Duration::from_millis(200));
            }
            ok
        });
        assert!(up, "ipmi_sim did not come up: {}", std::fs::read_to_string(dir.join("sim.log")).unwrap_or_default());
        bmc
    }

    pub fn ipmitool(&self, args: &[&str]) -> Option<String> {
        self.ipmitool_as("admin", "password", args)
    }

    /// ipmitool over the LAN as `user`: whether the BMC takes these
    /// credentials.
    pub fn ipmitool_as(&self, user: &str, pass: &str, args: &[&str]) -> Option<String> {
        let out = Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", BMC_ADDR, "-U", user, "-P", pass])
            .args(args)
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn vm_running(&self) -> bool {
        std::fs::read_to_string(self.dir.join("qemu.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid))
    }

    pub async fn wait_vm_off(&self, what: &str, console: &Path) {
        wait(what, Duration::from_secs(60), console, async || (!self.vm_running()).then_some(())).await;
    }
}

pub fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        .unwrap_or(true)
}

impl Drop for Bmc {
    fn drop(&mut self) {
        if let Some(pid) =
            std::fs::read_to_string(self.dir.join("qemu.pid")).ok().and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = self.sim.kill();
        let _ = self.sim.wait();
    }
}

/// Bytes `[from, from + len)` of a file.
pub fn bytes(path: &Path, from: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(from)).unwrap();
    let mut b = vec![0u8; len];
    f.read_exact(&mut b).unwrap();
    b
}

pub fn gunzip(path: &Path) -> Vec<u8> {
    let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(out.status.success());
    out.stdout
}
