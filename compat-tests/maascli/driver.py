#!/usr/bin/env python3
"""Drive the upstream `maas` CLI (maascli from MAAS's own source) through the
commands operators type, against a region that `run.sh` started and logged in to.

Every step runs one CLI command as a subprocess, exactly as a person would
type it, and passes when the command exits 0 and its output parses: JSON for
commands that answer JSON, anything (including nothing) for deletes and the
few text answers. Values a later step needs (ids, system_ids) are read from
the parsed output; when a step that yields one fails, the steps that depend
on it are counted as "not run" rather than failing a second time.

Usage (run.sh does this): driver.py PROFILE -- MAAS-COMMAND...
Prints one line per step (PASS/FAIL/SKIP), a table per resource family and
`N passed, M failed, K not run`. Exits 1 when any step failed.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

PROFILE = sys.argv[1]
MAAS = sys.argv[3:] if len(sys.argv) > 2 and sys.argv[2] == "--" else ["maas"]
VERBOSE = bool(os.environ.get("MAASCLI_VERBOSE"))

results = OrderedDict()  # family -> [passed, failed, not_run]
failures = []
family = "setup"


class Skip(Exception):
    """A value an earlier step should have produced is missing."""


class Failed(Exception):
    pass


def fam(name):
    global family
    family = name
    results.setdefault(name, [0, 0, 0])


def maas(*args, expect="json", check=None, allow_fail=False):
    """Run `maas PROFILE ARGS...`; return the parsed output.

    expect: "json" (must parse as JSON), "any" (exit 0 is enough),
    "text" (non-empty text). check: a callable on the parsed value that must
    return truthy. allow_fail: the command is expected to fail (exit 2),
    e.g. a MAAS-worded refusal we want to see answered properly.
    """
    if any(a is None for a in args):
        results[family][2] += 1
        print(f"SKIP  [{family}] {' '.join(str(a) for a in args)} (needs an earlier step)")
        raise Skip()
    cmd = [*MAAS, PROFILE, *[str(a) for a in args]]
    # Long values (a PEM certificate) are shortened in the report.
    shown = " ".join(str(a).replace("\n", " ")[:70] for a in args)
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    ok = (proc.returncode != 0) if allow_fail else (proc.returncode == 0)
    value = None
    reason = f"exit {proc.returncode}"
    if ok and not allow_fail:
        if expect == "json":
            try:
                value = json.loads(out)
            except ValueError as e:
                ok, reason = False, f"output is not JSON ({e}): {out[:200]!r}"
        elif expect == "text":
            value = out
            ok = bool(out.strip())
            reason = "empty output"
        else:
            value = out
        if ok and check is not None:
            try:
                ok = bool(check(value))
            except Exception as e:  # noqa: BLE001 - a failed check is a failed step
                ok = False
                reason = f"check raised {e!r}"
            else:
                reason = "check failed on " + out[:300]
    if ok:
        results[family][0] += 1
        print(f"PASS  [{family}] {shown}")
        if VERBOSE:
            print("      " + out[:300].replace("\n", " "))
        return value
    results[family][1] += 1
    detail = (out + err).strip().splitlines()
    detail = " | ".join(detail[-4:])[:500]
    print(f"FAIL  [{family}] {shown}: {reason}: {detail}")
    failures.append((family, shown, reason, detail))
    raise Failed()


def block(fn):
    """Run one family's steps; a failure stops only that family's chain."""
    try:
        fn()
    except (Skip, Failed):
        pass
    return fn


def tryit(*args, **kw):
    """A step whose failure must not stop the rest of the family."""
    try:
        return maas(*args, **kw)
    except (Skip, Failed):
        return None


def wait_status(system_id, wanted, timeout=120):
    """Poll `machine read` until status_name is one of wanted."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        proc = subprocess.run([*MAAS, PROFILE, "machine", "read", system_id], capture_output=True)
        if proc.returncode == 0:
            status = json.loads(proc.stdout).get("status_name")
            if status in wanted:
                return status
        time.sleep(1)
    return None


state = {}  # values later families need (the domain, fabric, subnet...)
tmp = tempfile.mkdtemp(prefix="maascli-driver-")
uniq = str(int(time.time()))[-5:]


def tmpfile(name, content):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())
    return path


is_list = lambda v: isinstance(v, list)  # noqa: E731
is_dict = lambda v: isinstance(v, dict)  # noqa: E731


# --- read-only and account ---------------------------------------------------
@block
def _version():
    fam("version")
    maas("version", "read", check=lambda v: "capabilities" in v)


@block
def _account():
    fam("account")
    maas("account", "list-authorisation-tokens", check=is_list)
    tok = maas("account", "create-authorisation-token", f"name=cli-{uniq}", check=lambda v: "token_key" in v)
    tryit("account", "update-token-name", f"token={tok['token_key']}", f"name=cli2-{uniq}", expect="any")
    maas("account", "delete-authorisation-token", f"token_key={tok['token_key']}", expect="any")


@block
def _users():
    fam("users")
    maas("users", "read", check=is_list)
    maas("users", "whoami", check=lambda v: v["username"])
    name = f"cliuser{uniq}"
    maas("users", "create", f"username={name}", f"email={name}@example.com",
         "password=Very-Secret-9", "is_superuser=0", check=lambda v: v["username"] == name)
    maas("user", "read", name, check=lambda v: v["is_superuser"] is False)
    maas("user", "delete", name, expect="any")


@block
def _config():
    fam("maas")
    maas("maas", "get-config", "name=maas_name")
    maas("maas", "set-config", "name=maas_name", f"value=cli-{uniq}", expect="any")
    maas("maas", "get-config", "name=maas_name", check=lambda v: v == f"cli-{uniq}")
    maas("maas", "set-config", "name=ntp_servers", "value=ntp1.example.com ntp2.example.com", expect="any")
    maas("maas", "get-config", "name=upstream_dns")
    maas("maas", "set-config", "name=kernel_opts", "value=console=ttyS0", expect="any")


@block
def _sshkeys():
    fam("sshkeys")
    key = None
    keygen = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cli@example", "-f",
                             os.path.join(tmp, "id")], capture_output=True)
    if keygen.returncode == 0:
        key = open(os.path.join(tmp, "id.pub")).read().strip()
    else:
        key = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHj1uU2m6ZxCvXxDD9e7U7vfJb3mrSbNK3eZ9pGzHbcH cli@example")
    k = maas("sshkeys", "create", f"key={key}", check=lambda v: v["key"].startswith("ssh-ed25519"))
    maas("sshkeys", "read", check=is_list)
    maas("sshkey", "read", k["id"], check=lambda v: v["id"] == k["id"])
    maas("sshkey", "delete", k["id"], expect="any")


@block
def _sslkeys():
    fam("sslkeys")
    key, crt = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
    gen = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                          "-out", crt, "-days", "2", "-subj", "/CN=cli.example"], capture_output=True)
    if gen.returncode != 0:
        raise Skip()
    # `key@=FILE` would send a file part, which MAAS (like Ironpool) does not
    # read as the `key` field; operators pass the PEM text: key="$(cat c.pem)".
    k = maas("sslkeys", "create", "key=" + open(crt).read(), check=lambda v: "id" in v)
    maas("sslkeys", "read", check=is_list)
    maas("sslkey", "read", k["id"], check=is_dict)
    maas("sslkey", "delete", k["id"], expect="any")


# --- places -------------------------------------------------------------------
@block
def _zones():
    fam("zones")
    z = f"zone-{uniq}"
    maas("zones", "create", f"name={z}", "description=made by the CLI", check=lambda v: v["name"] == z)
    maas("zones", "read", check=lambda v: any(x["name"] == z for x in v))
    maas("zone", "read", z, check=lambda v: v["description"] == "made by the CLI")
    maas("zone", "update", z, "description=changed", check=lambda v: v["description"] == "changed")
    maas("zone", "delete", z, expect="any")


@block
def _pools():
    fam("resource-pools")
    p = maas("resource-pools", "create", f"name=pool-{uniq}", "description=d", check=lambda v: "id" in v)
    maas("resource-pools", "read", check=is_list)
    maas("resource-pool", "read", p["id"], check=lambda v: v["name"] == f"pool-{uniq}")
    maas("resource-pool", "update", p["id"], "description=e", check=lambda v: v["description"] == "e")
    maas("resource-pool", "delete", p["id"], expect="any")


@block
def _domains():
    fam("domains")
    d = maas("domains", "create", f"name=cli{uniq}.example", "authoritative=true", check=lambda v: "id" in v)
    maas("domains", "read", check=is_list)
    maas("domain", "read", d["id"], check=is_dict)
    maas("domain", "update", d["id"], "ttl=600", check=lambda v: v["ttl"] == 600)
    tryit("domains", "set-serial", "serial=42", expect="any")
    state["domain"] = d
    # deleted after the DNS records below


# --- networking ---------------------------------------------------------------


@block
def _fabrics():
    fam("fabrics")
    f = maas("fabrics", "create", f"name=fab-{uniq}", check=lambda v: "id" in v)
    state["fabric"] = f
    maas("fabrics", "read", check=is_list)
    maas("fabric", "read", f["id"], check=lambda v: v["name"] == f"fab-{uniq}")
    maas("fabric", "update", f["id"], "description=cli fabric", check=is_dict)


@block
def _spaces():
    fam("spaces")
    s = maas("spaces", "create", f"name=space-{uniq}", check=lambda v: "id" in v)
    state["space"] = s
    maas("spaces", "read", check=is_list)
    maas("space", "read", s["id"], check=is_dict)
    maas("space", "update", s["id"], "description=cli space", check=is_dict)


@block
def _vlans():
    fam("vlans")
    f = state.get("fabric", {}).get("id")
    v = maas("vlans", "create", f, "vid=42", "name=v42", "mtu=1500", check=lambda v: v["vid"] == 42)
    state["vlan"] = v
    maas("vlans", "read", f, check=is_list)
    maas("vlan", "read", f, 42, check=lambda v: v["name"] == "v42")
    sp = state.get("space", {}).get("name")
    maas("vlan", "update", f, 42, "mtu=9000", *( [f"space={sp}"] if sp else []),
         check=lambda v: v["mtu"] == 9000)
    tryit("vlan-by-id", "read", v["id"], check=is_dict)


@block
def _subnets():
    fam("subnets")
    v = state.get("vlan", {}).get("id")
    s = maas("subnets", "create", "cidr=10.99.0.0/24", f"vlan={v}", "gateway_ip=10.99.0.1",
             "dns_servers=10.99.0.2", "dns_servers=10.99.0.3", f"name=sn-{uniq}",
             check=lambda x: x["cidr"] == "10.99.0.0/24")
    state["subnet"] = s
    tryit("subnet", "read", s["id"], check=lambda x: x["dns_servers"] == ["10.99.0.2", "10.99.0.3"])
    maas("subnets", "read", check=is_list)
    maas("subnet", "update", s["id"], "description=cli subnet", check=is_dict)
    tryit("subnet", "update", s["id"], "dns_servers=10.99.0.4 10.99.0.5",
          check=lambda x: x["dns_servers"] == ["10.99.0.4", "10.99.0.5"])
    maas("subnet", "statistics", s["id"], check=is_dict)
    maas("subnet", "ip-addresses", s["id"], check=is_list)
    maas("subnet", "reserved-ip-ranges", s["id"], check=is_list)
    maas("subnet", "unreserved-ip-ranges", s["id"], check=is_list)


@block
def _ipranges():
    fam("ipranges")
    s = state.get("subnet", {}).get("id")
    r = maas("ipranges", "create", "type=reserved", "start_ip=10.99.0.100", "end_ip=10.99.0.110",
             f"subnet={s}", "comment=cli", check=lambda v: v["type"] == "reserved")
    maas("ipranges", "read", check=is_list)
    maas("iprange", "read", r["id"], check=is_dict)
    maas("iprange", "update", r["id"], "end_ip=10.99.0.120", check=lambda v: v["end_ip"] == "10.99.0.120")
    maas("iprange", "delete", r["id"], expect="any")
    d = maas("ipranges", "create", "type=dynamic", "start_ip=10.99.0.200", "end_ip=10.99.0.220",
             f"subnet={s}", check=lambda v: v["type"] == "dynamic")
    state["dynrange"] = d


@block
def _ipaddresses():
    fam("ipaddresses")
    s = state.get("subnet", {}).get("cidr")
    maas("ipaddresses", "reserve", "ip=10.99.0.50", check=lambda v: v["ip"] == "10.99.0.50")
    maas("ipaddresses", "read", check=lambda v: any(x["ip"] == "10.99.0.50" for x in v))
    r = tryit("ipaddresses", "reserve", f"subnet={s}", check=lambda v: v["ip"].startswith("10.99.0."))
    if r:
        maas("ipaddresses", "release", f"ip={r['ip']}", expect="any")
    maas("ipaddresses", "release", "ip=10.99.0.50", expect="any")


@block
def _reservedips():
    fam("reserved-ips")
    s = state.get("subnet", {}).get("id")
    r = maas("reserved-ips", "create", "ip=10.99.0.60", "mac_address=52:54:00:aa:bb:01", f"subnet={s}",
             "comment=cli", check=lambda v: v["ip"] == "10.99.0.60")
    maas("reserved-ips", "read", check=is_list)
    maas("reserved-ip", "read", r["id"], check=is_dict)
    maas("reserved-ip", "update", r["id"], "comment=changed", check=lambda v: v["comment"] == "changed")
    maas("reserved-ip", "delete", r["id"], expect="any")


@block
def _staticroutes():
    fam("static-routes")
    s = state.get("subnet", {}).get("id")
    r = maas("static-routes", "create", f"source={s}", "destination=1", "gateway_ip=10.99.0.1",
             "metric=10", check=lambda v: "id" in v)
    maas("static-routes", "read", check=is_list)
    maas("static-route", "read", r["id"], check=is_dict)
    maas("static-route", "update", r["id"], "metric=20", check=lambda v: v["metric"] == 20)
    maas("static-route", "delete", r["id"], expect="any")


@block
def _dns():
    fam("dnsresources")
    dom = state.get("domain", {}).get("name")
    r = maas("dnsresources", "create", f"fqdn=www.{dom}", "ip_addresses=10.99.0.70 10.99.0.71",
             check=lambda v: len(v["ip_addresses"]) == 2)
    maas("dnsresources", "read", check=is_list)
    maas("dnsresources", "read", f"domain={dom}", check=lambda v: len(v) >= 1)
    maas("dnsresource", "read", r["id"], check=is_dict)
    maas("dnsresource", "update", r["id"], "address_ttl=300", check=is_dict)
    fam("dnsresource-records")
    rec = maas("dnsresource-records", "create", f"fqdn=txt.{dom}", "rrtype=TXT", "rrdata=hello",
               check=lambda v: v["rrtype"] == "TXT")
    maas("dnsresource-records", "read", check=is_list)
    maas("dnsresource-record", "read", rec["id"], check=is_dict)
    maas("dnsresource-record", "update", rec["id"], "rrdata=bye", check=lambda v: v["rrdata"] == "bye")
    maas("dnsresource-record", "delete", rec["id"], expect="any")
    fam("dnsresources")
    maas("dnsresource", "delete", r["id"], expect="any")
    fam("domains")
    maas("domain", "delete", state["domain"]["id"], expect="any")


@block
def _dhcpsnippets():
    fam("dhcpsnippets")
    s = maas("dhcpsnippets", "create", f"name=snip-{uniq}", "value=option ntp-servers 10.0.0.1;",
             "description=cli", check=lambda v: "id" in v)
    maas("dhcpsnippets", "read", check=is_list)
    maas("dhcpsnippet", "read", s["id"], check=is_dict)
    maas("dhcpsnippet", "update", s["id"], "value=option ntp-servers 10.0.0.2;", check=is_dict)
    tryit("dhcpsnippet", "revert", s["id"], "to=1", check=is_dict)
    maas("dhcpsnippet", "delete", s["id"], expect="any")


@block
def _discoveries():
    fam("discoveries")
    maas("discoveries", "read", check=is_list)
    maas("discoveries", "by-unknown-mac", check=is_list)
    maas("discoveries", "by-unknown-ip", check=is_list)
    maas("discoveries", "by-unknown-ip-and-mac", check=is_list)
    maas("discoveries", "clear", "all=true", expect="any")


@block
def _net_teardown():
    fam("subnets")
    d = state.get("dynrange")
    if d:
        tryit("iprange", "delete", d["id"], expect="any")
    maas("subnet", "delete", state.get("subnet", {}).get("id"), expect="any")
    fam("vlans")
    maas("vlan", "delete", state.get("fabric", {}).get("id"), 42, expect="any")
    fam("spaces")
    maas("space", "delete", state.get("space", {}).get("id"), expect="any")
    fam("fabrics")
    maas("fabric", "delete", state.get("fabric", {}).get("id"), expect="any")


# --- images -------------------------------------------------------------------
@block
def _boot():
    fam("boot-resources")
    maas("boot-resources", "read", check=is_list)
    maas("boot-resources", "is-importing", check=lambda v: v in (True, False))
    img = tmpfile("root.tgz", b"\x1f\x8b" + os.urandom(4000))
    r = tryit("boot-resources", "create", f"name=custom/cli{uniq}", "title=CLI image",
              "architecture=amd64/generic", "filetype=tgz", f"content@={img}", expect="any")
    lst = maas("boot-resources", "read", "type=uploaded", check=is_list)
    mine = [x for x in lst if x["name"].endswith(f"cli{uniq}")]
    if r is not None and mine:
        maas("boot-resource", "read", mine[0]["id"], check=lambda v: v["sets"])
        maas("boot-resource", "delete", mine[0]["id"], expect="any")
    fam("boot-sources")
    maas("boot-sources", "read", check=is_list)
    # keyring_data@=FILE sends a file part (MAAS's FileField); a binary
    # keyring starts with an OpenPGP packet tag (0x98/0x99), not "-----BEGIN".
    keyring = tmpfile("keyring.gpg", b"\x98\x33" + os.urandom(50))
    src = maas("boot-sources", "create", "url=http://images.example.com/ephemeral-v3/stable/",
               f"keyring_data@={keyring}", check=lambda v: "id" in v)
    maas("boot-source", "read", src["id"], check=is_dict)
    maas("boot-source", "update", src["id"], "url=http://images2.example.com/v3/", check=is_dict)
    fam("boot-source-selections")
    sel = maas("boot-source-selections", "create", src["id"], "os=ubuntu", "release=noble",
               "arches=amd64", "subarches=*", "labels=*", check=lambda v: v["release"] == "noble")
    maas("boot-source-selections", "read", src["id"], check=is_list)
    maas("boot-source-selection", "read", src["id"], sel["id"], check=is_dict)
    maas("boot-source-selection", "update", src["id"], sel["id"], "release=jammy",
         check=lambda v: v["release"] == "jammy")
    maas("boot-source-selection", "delete", src["id"], sel["id"], expect="any")
    fam("boot-sources")
    maas("boot-source", "delete", src["id"], expect="any")


@block
def _license():
    fam("license-keys")
    maas("license-keys", "read", check=is_list)
    tryit("license-keys", "create", "osystem=windows", "distro_series=win2012", "license_key=XXXXX-XXXXX-XXXXX-XXXXX-XXXXX",
          check=is_dict)
    tryit("license-key", "read", "windows", "win2012", check=is_dict)
    tryit("license-key", "update", "windows", "win2012", "license_key=YYYYY-YYYYY-YYYYY-YYYYY-YYYYY", check=is_dict)
    tryit("license-key", "delete", "windows", "win2012", expect="any")


@block
def _package_repositories():
    fam("package-repositories")
    maas("package-repositories", "read", check=lambda v: [r["name"] for r in v][:2] == ["main_archive", "ports_archive"])
    r = maas("package-repositories", "create", f"name=extras-{uniq}", "url=http://repo.example.com/ubuntu",
             "components=main,universe", "distributions=noble", check=lambda v: v["arches"] == ["amd64", "i386"])
    maas("package-repository", "read", r["id"], check=is_dict)
    maas("package-repository", "update", r["id"], "enabled=false", check=lambda v: v["enabled"] is False)
    maas("package-repository", "update", 1, "disabled_pockets=backports",
         check=lambda v: v["disabled_pockets"] == ["backports"])
    maas("package-repository", "update", 1, "disabled_pockets=", check=lambda v: v["disabled_pockets"] == [])
    maas("package-repository", "delete", 1, expect="any", allow_fail=True)
    maas("package-repository", "delete", r["id"], expect="any")


# --- misc ---------------------------------------------------------------------
@block
def _notifications():
    fam("notifications")
    n = maas("notifications", "create", "message=hello from the CLI", "category=info", "admins=true",
             check=lambda v: "id" in v)
    maas("notifications", "read", check=is_list)
    maas("notification", "read", n["id"], check=is_dict)
    maas("notification", "update", n["id"], "message=changed", check=lambda v: v["message"] == "changed")
    maas("notification", "dismiss", n["id"], expect="any")
    maas("notification", "delete", n["id"], expect="any")


@block
def _files():
    fam("files")
    path = tmpfile("hello.txt", "hello\n")
    maas("files", "create", f"filename=cli-{uniq}.txt", f"content@={path}", expect="any")
    lst = maas("files", "read", check=lambda v: any(x["filename"] == f"cli-{uniq}.txt" for x in v))
    maas("files", "get", f"filename=cli-{uniq}.txt", expect="any", check=lambda v: v == "hello\n")
    item = [x for x in lst if x["filename"] == f"cli-{uniq}.txt"][0]
    # As in MAAS, the list carries no key; it is in anon_resource_uri's query.
    key = item["anon_resource_uri"].split("key=")[-1].split("&")[0]
    maas("files", "get-by-key", f"key={key}", expect="any", check=lambda v: v == "hello\n")
    maas("file", "read", f"cli-{uniq}.txt", check=is_dict)
    maas("file", "delete", f"cli-{uniq}.txt", expect="any")


@block
def _events():
    fam("events")
    maas("events", "query", check=lambda v: "events" in v)
    maas("events", "query", "level=DEBUG", "limit=5", check=lambda v: len(v["events"]) <= 5)


@block
def _controllers():
    fam("rack-controllers")
    racks = maas("rack-controllers", "read", check=is_list)
    maas("rack-controllers", "describe-power-types", check=is_list)
    tryit("rack-controllers", "is-registered", "mac_address=00:00:00:00:00:01", expect="any")
    if racks:
        r = racks[0]["system_id"]
        maas("rack-controller", "read", r, check=is_dict)
        tryit("rack-controller", "update", r, "description=rack by cli", check=is_dict)
        tryit("rack-controller", "list-boot-images", r, check=is_dict)
        tryit("rack-controller", "power-parameters", r, check=is_dict)
    fam("region-controllers")
    regs = maas("region-controllers", "read", check=is_list)
    if regs:
        maas("region-controller", "read", regs[0]["system_id"], check=is_dict)


@block
def _vmhosts():
    # libvirt's built-in test driver: virsh opens it in-process, no libvirtd.
    fam("vm-hosts")
    h = maas("vm-hosts", "create", "type=virsh", "power_address=test:///default", f"name=vmh-{uniq}",
             check=lambda v: v["type"] == "virsh" and v["total"]["cores"] > 0)
    maas("vm-hosts", "read", check=lambda v: any(x["id"] == h["id"] for x in v))
    maas("vm-host", "read", h["id"], check=lambda v: v["name"] == f"vmh-{uniq}")
    maas("vm-host", "update", h["id"], "cpu_over_commit_ratio=2", check=lambda v: v["cpu_over_commit_ratio"] == 2)
    maas("vm-host", "add-tag", h["id"], "tag=cli", check=lambda v: "cli" in v["tags"])
    maas("vm-host", "remove-tag", h["id"], "tag=cli", check=lambda v: "cli" not in v["tags"])
    maas("vm-host", "refresh", h["id"], check=is_dict)
    maas("vm-host", "parameters", h["id"], check=lambda v: v["power_address"] == "test:///default")
    fam("pods")
    maas("pods", "read", check=lambda v: any(x["id"] == h["id"] for x in v))
    maas("pod", "read", h["id"], check=lambda v: v["resource_uri"].startswith("/MAAS/api/2.0/pods/"))
    fam("vm-hosts")
    maas("vm-host", "delete", h["id"], expect="any")


@block
def _tags():
    fam("tags")
    t = f"tag{uniq}"
    maas("tags", "create", f"name={t}", "comment=by cli", check=lambda v: v["name"] == t)
    maas("tags", "read", check=is_list)
    maas("tag", "read", t, check=is_dict)
    maas("tag", "update", t, "comment=changed", check=lambda v: v["comment"] == "changed")
    ms = maas("machines", "read", check=is_list)
    if ms:
        maas("tag", "update-nodes", t, f"add={ms[0]['system_id']}", check=is_dict)
        maas("tag", "machines", t, check=lambda v: len(v) == 1)
        maas("tag", "nodes", t, check=is_list)
        maas("machines", "read", f"tags={t}", check=lambda v: len(v) == 1)
        maas("tag", "update-nodes", t, f"remove={ms[0]['system_id']}", check=is_dict)
    maas("tag", "delete", t, expect="any")


# --- nodes --------------------------------------------------------------------
@block
def _devices():
    fam("devices")
    d = maas("devices", "create", f"hostname=dev-{uniq}", "mac_addresses=52:54:00:cc:00:01",
             check=lambda v: "system_id" in v)
    sid = d["system_id"]
    maas("devices", "read", check=is_list)
    maas("devices", "read", f"hostname=dev-{uniq}", check=lambda v: len(v) == 1)
    maas("device", "read", sid, check=is_dict)
    maas("device", "update", sid, "description=cli device", check=is_dict)
    tryit("device", "details", sid, expect="any")
    tryit("device", "set-owner-data", sid, "owner=cli", check=is_dict)
    fam("interfaces")
    ifs = maas("interfaces", "read", sid, check=is_list)
    maas("interface", "read", sid, ifs[0]["id"], check=is_dict)
    tryit("interface", "update", sid, ifs[0]["id"], "name=eth9", check=is_dict)
    fam("devices")
    maas("device", "delete", sid, expect="any")


@block
def _nodes():
    fam("nodes")
    ns = maas("nodes", "read", check=is_list)
    maas("node", "read", ns[0]["system_id"], check=is_dict)
    tryit("nodes", "is-registered", "mac_address=00:00:00:00:00:01", check=lambda v: v is False)
    tryit("node", "details", ns[0]["system_id"], expect="any")


@block
def _new_machine():
    fam("machines")
    m = maas("machines", "create", "architecture=amd64/generic", "mac_addresses=52:54:00:dd:00:01",
             f"hostname=m-{uniq}", "power_type=manual", check=lambda v: "system_id" in v)
    sid = m["system_id"]
    maas("machine", "read", sid, check=lambda v: v["hostname"] == f"m-{uniq}")
    maas("machines", "read", f"hostname=m-{uniq}", check=lambda v: len(v) == 1)
    maas("machines", "read", f"mac_address=52:54:00:dd:00:01", check=lambda v: len(v) == 1)
    maas("machines", "read", "zone=default", check=is_list)
    maas("machine", "update", sid, "description=cli machine", "cpu_count=4", check=is_dict)
    maas("machine", "power-parameters", sid, check=is_dict)
    tryit("machines", "power-parameters", check=is_dict)
    tryit("machine", "details", sid, expect="any")
    tryit("machine", "query-power-state", sid, expect="any")
    tryit("machine", "mark-broken", sid, "comment=cli", check=lambda v: v["status_name"] == "Broken")
    tryit("machine", "mark-fixed", sid, check=is_dict)
    maas("machine", "delete", sid, expect="any")


@block
def _ready_machine():
    fam("machines")
    ms = maas("machines", "read", "status=ready", check=is_list)
    ready = [m for m in ms if m["status_name"] == "Ready"]
    if not ready:
        raise Skip()
    sid = ready[0]["system_id"]
    maas("machines", "list-allocated", check=is_list)
    fam("block-devices")
    bds = maas("block-devices", "read", sid, check=is_list)
    bd = bds[0]
    maas("block-device", "read", sid, bd["id"], check=is_dict)
    tryit("block-device", "add-tag", sid, bd["id"], "tag=fast", check=is_dict)
    tryit("block-device", "remove-tag", sid, bd["id"], "tag=fast", check=is_dict)
    fam("machines")
    maas("machine", "set-storage-layout", sid, "storage_layout=flat", check=is_dict)
    maas("machine", "set-storage-layout", sid, "storage_layout=lvm", check=is_dict)
    fam("volume-groups")
    vgs = tryit("volume-groups", "read", sid, check=is_list)
    if vgs:
        maas("volume-group", "read", sid, vgs[0]["id"], check=is_dict)
    fam("machines")
    maas("machine", "set-storage-layout", sid, "storage_layout=blank", check=is_dict)
    fam("partitions")
    try:
        p = maas("partitions", "create", sid, bd["id"], "size=2G", check=lambda v: "id" in v)
        maas("partitions", "read", sid, bd["id"], check=is_list)
        maas("partition", "read", sid, bd["id"], p["id"], check=is_dict)
        maas("partition", "format", sid, bd["id"], p["id"], "fstype=ext4", check=is_dict)
        maas("partition", "mount", sid, bd["id"], p["id"], "mount_point=/srv", check=is_dict)
        maas("partition", "unmount", sid, bd["id"], p["id"], check=is_dict)
        maas("partition", "unformat", sid, bd["id"], p["id"], check=is_dict)
        maas("partition", "delete", sid, bd["id"], p["id"], expect="any")
    except (Skip, Failed):
        pass
    fam("volume-groups")
    try:
        p = maas("partitions", "create", sid, bd["id"], "size=4G", check=lambda v: "id" in v)
        vg = maas("volume-groups", "create", sid, "name=vgcli", f"partitions={p['id']}", check=lambda v: "id" in v)
        maas("volume-groups", "read", sid, check=lambda v: len(v) == 1)
        lv = maas("volume-group", "create-logical-volume", sid, vg["id"], "name=lv0", "size=1G", check=is_dict)
        maas("volume-group", "delete-logical-volume", sid, vg["id"], f"id={lv['id']}", expect="any")
        maas("volume-group", "update", sid, vg["id"], "name=vgcli2", check=is_dict)
        maas("volume-group", "delete", sid, vg["id"], expect="any")
        maas("partition", "delete", sid, bd["id"], p["id"], expect="any")
    except (Skip, Failed):
        pass
    fam("raids")
    tryit("raids", "read", sid, check=is_list)
    fam("interfaces")
    ifs = maas("interfaces", "read", sid, check=is_list)
    maas("interface", "read", sid, ifs[0]["id"], check=is_dict)
    tryit("interfaces", "create-vlan", sid, f"parent={ifs[0]['id']}", f"vlan={ifs[0]['vlan']['id']}",
          expect="any", allow_fail=True)
    fam("machines")
    maas("machine", "set-storage-layout", sid, "storage_layout=flat", check=is_dict)
    a = maas("machines", "allocate", f"system_id={sid}", check=lambda v: v["status_name"] == "Allocated")
    maas("machines", "list-allocated", check=lambda v: any(x["system_id"] == sid for x in v))
    maas("machine", "set-workload-annotations", sid, "app=web", check=lambda v: v["workload_annotations"] == {"app": "web"})
    maas("machine", "set-owner-data", sid, "team=ops", check=is_dict)
    maas("machine", "deploy", sid, "distro_series=noble", check=lambda v: v["status_name"] == "Deploying")
    st = wait_status(sid, {"Deployed", "Failed deployment"})
    maas("machine", "read", sid, check=lambda v: v["status_name"] == "Deployed")
    maas("machine", "query-power-state", sid, check=lambda v: v["state"] in ("on", "off", "unknown"))
    # MAAS locks only deployed (or deploying) machines.
    maas("machine", "lock", sid, "comment=cli", check=lambda v: v["locked"] is True)
    maas("machine", "unlock", sid, check=lambda v: v["locked"] is False)
    maas("machine", "get-curtin-config", sid, expect="text")
    maas("machine", "release", sid, "comment=done", check=is_dict)
    wait_status(sid, {"Ready"})
    maas("machine", "power-off", sid, check=is_dict)
    b = maas("machines", "allocate", "cpu_count=1", check=lambda v: "system_id" in v)
    maas("machines", "release", f"machines={b['system_id']}", check=is_list)
    _ = (a, st)


@block
def _machine_lifecycle():
    fam("machines")
    ms = maas("machines", "read", "status=ready", check=is_list)
    ready = [m for m in ms if m["status_name"] == "Ready"]
    if len(ready) < 2:
        raise Skip()
    sid = ready[-1]["system_id"]
    maas("machines", "read", "zone=default", "pool=default", "status=ready", check=lambda v: len(v) >= 1)
    maas("machines", "read", f"id={sid}", check=lambda v: len(v) == 1)
    maas("machines", "is-registered", f"mac_address={ready[-1]['boot_interface']['mac_address']}",
         check=lambda v: v is True)
    maas("machines", "accept-all", check=is_list)
    maas("machine", "get-token", sid, expect="any")
    fam("interfaces")
    ifs = maas("interfaces", "read", sid, check=is_list)
    eth = ifs[0]
    for link in eth.get("links", []):
        tryit("interface", "unlink-subnet", sid, eth["id"], f"id={link['id']}", check=is_dict)
    subs = maas("subnets", "read", check=is_list)
    sub = next((x for x in subs if x["vlan"]["id"] == eth["vlan"]["id"]), None)
    if sub:
        ln = maas("interface", "link-subnet", sid, eth["id"], "mode=AUTO", f"subnet={sub['id']}",
                  check=lambda v: any(lk["mode"] == "auto" for lk in v["links"]))
        _ = ln
    maas("interface", "update", sid, eth["id"], "mtu=1500", check=is_dict)
    tryit("interface", "add-tag", sid, eth["id"], "tag=cli", check=is_dict)
    tryit("interface", "remove-tag", sid, eth["id"], "tag=cli", check=is_dict)
    tryit("interfaces", "create-physical", sid, "mac_address=52:54:00:ee:00:07", "name=eth7", check=is_dict)
    fam("machines")
    maas("machine", "commission", sid, "skip_networking=1", check=lambda v: v["status_name"] == "Commissioning")
    # (No `abort` here: a simulated machine may finish commissioning first.)
    st = wait_status(sid, {"Ready", "Failed commissioning"}, timeout=120)
    maas("machine", "read", sid, check=lambda v: v["status_name"] == "Ready")
    _ = st


# --- report -------------------------------------------------------------------
print()
print(f"{'family':<26}{'run':>5}{'passed':>8}{'failed':>8}{'not run':>9}")
tp = tf = tn = 0
for name, (p, f, n) in results.items():
    print(f"{name:<26}{p + f:>5}{p:>8}{f:>8}{n:>9}")
    tp, tf, tn = tp + p, tf + f, tn + n
print(f"{'total':<26}{tp + tf:>5}{tp:>8}{tf:>8}{tn:>9}")
if failures:
    print("\nfailures:")
    for fm, cmd, reason, detail in failures:
        print(f"  [{fm}] {cmd}: {reason}: {detail}")
print(f"\n{tp} passed, {tf} failed, {tn} not run")
sys.exit(1 if tf else 0)
