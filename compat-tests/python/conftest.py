"""Fixtures for the python-libmaas compatibility suite.

One region per test session: the binary named by IRONPOOL_BIN, on a free
loopback port, with a fresh data directory (embedded SQLite). An administrator
is created with `ironpool createadmin` and its key read with `ironpool apikey`
before the region starts; a non-admin user is created through the API.
"""

import base64
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ADMIN = {"username": "admin", "password": "admin-Pa55word!", "email": "admin@example.com"}
USER = {"username": "alice", "password": "alice-Pa55word!", "email": "alice@example.com"}

STARTUP_TIMEOUT = 60.0  # seconds; a debug build on a busy machine can be slow
_SERVER_ENV_TO_DROP = ("IRONPOOL_DATABASE_URL", "IRONPOOL_LISTEN", "IRONPOOL_CONFIG")

# Used only when `openssl` is missing: a self-signed P-256 certificate.
FALLBACK_CERT = """-----BEGIN CERTIFICATE-----
MIIBnTCCAUOgAwIBAgIUbaCDy70IpavkQM8z7waYrPV+RWQwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYaXJvbnBvb2wtY29tcGF0LWZhbGxiYWNrMCAXDTI2MTEyNTE5
NTcwOFoYDzIxMjYxMTAxMTk1NzA4WjAjMSEwHwYDVQQDDBhpcm9ucG9vbC1jb21w
YXQtZmFsbGJhY2swWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQIsYfx+7OYeG9E
/uQ6jWNWM9e9TAd+WsHh3SyD8RMY+flaL801oFSjGcuzTG1nzcqXBj4yPSanNVuJ
NQ2w+BgMo1MwUTAdBgNVHQ4EFgQUJxethSRami7dgCFmVFvSc3Jaw/wwHwYDVR0j
BBgwFoAUJxethSRami7dgCFmVFvSc3Jaw/wwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNIADBFAiEA5WfLUhyhoJ75KVl/VGqacIsW0KACq1XhsTh1Ls0YDC0C
IHBGMnRjYVFz/Q3+uhJ7Dgzhpxv89MEW/S1mQlRZ1Jlm
-----END CERTIFICATE-----
"""


def pytest_configure(config):
    # libmaas 0.6.8 on Python 3.11 warns about distutils and aiohttp's
    # verify_ssl=; neither says anything about the server.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning")
    bin_path = os.environ.get("IRONPOOL_BIN", "")
    if not bin_path:
        raise pytest.UsageError(
            "IRONPOOL_BIN is not set: point it at a built ironpool binary, "
            "e.g. IRONPOOL_BIN=target/debug/ironpool compat-tests/python/run.sh"
        )
    if not (os.path.isfile(bin_path) and os.access(bin_path, os.X_OK)):
        raise pytest.UsageError(f"IRONPOOL_BIN={bin_path!r} is not an executable file")


@dataclass
class Region:
    bin: str
    data_dir: Path
    port: int
    env: dict
    proc: subprocess.Popen = None
    log_path: Path = None
    admin_key: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def url(self):
        """What a user hands to libmaas: the MAAS root."""
        return f"http://127.0.0.1:{self.port}/MAAS/"

    @property
    def api(self):
        return f"http://127.0.0.1:{self.port}/MAAS/api/2.0/"

    def cli(self, *args, check=True):
        """Runs an `ironpool` subcommand against this region's data directory."""
        r = subprocess.run(
            [self.bin, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and r.returncode != 0:
            raise AssertionError(
                f"ironpool {' '.join(args)} exited {r.returncode}\n"
                f"stdout: {r.stdout}\nstderr: {r.stderr}"
            )
        return r

    def apikey(self, username):
        """The user's first API key, as `ironpool apikey` prints it."""
        lines = [l.strip() for l in self.cli("apikey", "--username", username).stdout.splitlines()]
        keys = [l for l in lines if l.count(":") == 2]
        assert keys, f"ironpool apikey printed no key: {lines!r}"
        return keys[0]

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start(region):
    """Starts the region; returns True once version/ answers, False if the
    process died first (e.g. the port was taken in the meantime)."""
    region.log_path = region.data_dir / f"region-{region.port}.log"
    log = open(region.log_path, "wb")
    region.proc = subprocess.Popen(
        [region.bin, "region", "--listen", f"127.0.0.1:{region.port}"],
        env=region.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if region.proc.poll() is not None:
            return False
        if _answers(region.api + "version/"):
            return True
        time.sleep(0.1)
    region.proc.kill()
    region.proc.wait()
    raise RuntimeError(
        f"region did not answer {region.api}version/ within {STARTUP_TIMEOUT}s:\n{region.log_tail()}"
    )


def _stop(region):
    if region.proc is None or region.proc.poll() is not None:
        return region.proc.returncode if region.proc else None
    region.proc.send_signal(signal.SIGTERM)
    try:
        return region.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        region.proc.kill()
        region.proc.wait()
        warnings.warn("the region ignored SIGTERM for 20 s and was killed")
        return None


# Keys the stand-in for Launchpad and GitHub serves (`key_site`).
SITE_KEY = "ssh-ed25519 " + base64.b64encode(
    struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes(range(32))
).decode() + " compat@launchpad"


def _key_site():
    """A local HTTP server answering as Launchpad (`/~compat/+sshkeys`) and
    GitHub (`/users/compat/keys`) do, anything else 404: the region's
    `launchpad_url` and `github_api_url` point at it, so SSH key import is
    exercised for real without the Internet."""
    import http.server
    import json
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            routes = {
                "/~compat/+sshkeys": ("text/plain", SITE_KEY + "\n"),
                "/users/compat/keys": ("application/json", json.dumps([{"id": 1, "key": SITE_KEY}])),
            }
            if self.path not in routes:
                self.send_error(404)
                return
            ctype, body = routes[self.path]
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def region():
    data_dir = Path(tempfile.mkdtemp(prefix="ironpool-compat-"))
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_ENV_TO_DROP}
    env["IRONPOOL_DATA_DIR"] = str(data_dir)
    site = _key_site()
    site_url = f"http://127.0.0.1:{site.server_address[1]}"
    config = data_dir / "ironpool.toml"
    config.write_text(f'launchpad_url = "{site_url}"\ngithub_api_url = "{site_url}"\n')
    env["IRONPOOL_CONFIG"] = str(config)
    r = Region(bin=os.path.abspath(os.environ["IRONPOOL_BIN"]), data_dir=data_dir, port=0, env=env)
    try:
        r.cli(
            "createadmin",
            "--username", ADMIN["username"],
            "--password", ADMIN["password"],
            "--email", ADMIN["email"],
        )
        r.admin_key = r.apikey(ADMIN["username"])
        for attempt in range(3):
            r.port = _free_port()
            if _start(r):
                break
        else:
            raise RuntimeError(f"the region exited during start-up three times:\n{r.log_tail()}")
        yield r
    finally:
        rc = _stop(r)
        if rc not in (0, None):
            warnings.warn(f"the region exited {rc} after SIGTERM:\n{r.log_tail()}")
        site.shutdown()
        if os.environ.get("IRONPOOL_COMPAT_KEEP"):
            print(f"\nregion data and log kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def _admin_client(region):
    from maas.client import connect

    return connect(region.url, apikey=region.admin_key)


@pytest.fixture(scope="session")
def fresh_config(_admin_client):
    """libmaas's typed MAAS-config getters, read before any test can change
    them (every admin-client test depends on this through `admin`)."""
    m = _admin_client.maas
    return {
        "name": m.get_name(),
        "default_os": m.get_default_os(),
        "default_distro_series": m.get_default_distro_series(),
        "commissioning_distro_series": m.get_commissioning_distro_series(),
        "ntp_server": m.get_ntp_server(),
        "enable_http_proxy": m.get_enable_http_proxy(),
        "http_proxy": m.get_http_proxy(),
        "kernel_options": m.get_kernel_options(),
        "upstream_dns": m.get_upstream_dns(),
        "dnssec_validation": m.get_dnssec_validation(),
        "default_dns_ttl": m.get_default_dns_ttl(),
        "default_storage_layout": m.get_default_storage_layout(),
        "windows_kms_host": m.get_windows_kms_host(),
        "default_min_hwe_kernel": m.get_default_min_hwe_kernel(),
        "main_archive": m.get_main_archive(),
        "ports_archive": m.get_ports_archive(),
    }


@pytest.fixture(scope="session")
def admin(_admin_client, fresh_config):
    """A libmaas client for the administrator (API key from `ironpool apikey`)."""
    return _admin_client


@pytest.fixture(scope="session")
def user(region, admin):
    """A non-admin user created through the API, with its API key."""
    u = admin.users.create(USER["username"], USER["password"], email=USER["email"], is_admin=False)
    assert u.username == USER["username"] and u.is_admin is False
    return dict(USER, key=region.apikey(USER["username"]))


@pytest.fixture(scope="session")
def user_client(region, user):
    from maas.client import connect

    return connect(region.url, apikey=user["key"])


@pytest.fixture
def unique():
    """A short unique suffix for names tests create."""
    return uuid.uuid4().hex[:8]


def _ssh_string(b):
    return struct.pack(">I", len(b)) + b


@pytest.fixture(scope="session")
def new_ssh_key(tmp_path_factory):
    """Returns a function making a fresh OpenSSH ed25519 public-key line."""
    keydir = tmp_path_factory.mktemp("sshkeys")
    keygen = shutil.which("ssh-keygen")
    counter = iter(range(1_000_000))

    def make(comment="compat@ironpool"):
        if keygen:
            path = keydir / f"id_{next(counter)}"
            subprocess.run(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                check=True, stdin=subprocess.DEVNULL, capture_output=True,
            )
            return path.with_suffix(".pub").read_text().strip()
        blob = _ssh_string(b"ssh-ed25519") + _ssh_string(os.urandom(32))
        return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"

    return make


@pytest.fixture(scope="session")
def new_cert(tmp_path_factory):
    """Returns a function making a PEM X.509 certificate (self-signed)."""
    certdir = tmp_path_factory.mktemp("certs")
    openssl = shutil.which("openssl")
    counter = iter(range(1_000_000))

    def make(cn="ironpool-compat"):
        if not openssl:
            return FALLBACK_CERT
        n = next(counter)
        out = certdir / f"cert{n}.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(certdir / f"key{n}.pem"), "-out", str(out),
             "-subj", f"/CN={cn}-{n}", "-days", "30"],
            check=True, stdin=subprocess.DEVNULL, capture_output=True,
        )
        return out.read_text()

    return make


@pytest.fixture
def maas_cli(tmp_path):
    """Runs libmaas's own `maas` console script with a private HOME, so its
    profile database (~/.maas.db) starts empty and is thrown away."""
    exe = Path(sys.executable).with_name("maas")
    if not exe.exists():
        exe = Path(shutil.which("maas") or "maas")
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), PYTHONWARNINGS="ignore")

    def run(*args, input=None):
        return subprocess.run(
            [str(exe), *args], env=env, capture_output=True, text=True, input=input, timeout=120
        )

    run.home = home
    return run

