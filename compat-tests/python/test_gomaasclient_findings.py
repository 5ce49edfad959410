"""What driving Terraform's MAAS client (gomaasclient, compat-tests/gomaasclient/)
against the region found, kept as raw-HTTP regressions that run in CI.

Each request is built the way gomaasclient builds it: go-querystring turns
the params struct into url.Values (a []string becomes the key repeated,
booleans `true`/`false`, zero-valued omitempty fields left out) and
gomaasapi sends `url.Values.Encode()` (keys sorted) as an
`application/x-www-form-urlencoded` body for POST and PUT, with the `op` in
the query string and a PLAINTEXT OAuth header. The assertions are what the
client then parses: the status (2xx is success, anything else a
ServerError carrying the body text) and the JSON fields it decodes.
"""

import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

_nonce = itertools.count()


def _oauth(apikey):
    # gomaasapi's OAuthSigner: every value url.QueryEscape'd, "&" included.
    ck, tk, ts = apikey.split(":")
    return (
        f'OAuth oauth_consumer_key="{ck}", oauth_nonce="gmc{next(_nonce)}-{time.time_ns()}", '
        f'oauth_signature="%26{ts}", oauth_signature_method="PLAINTEXT", '
        f'oauth_timestamp="{int(time.time())}", oauth_token="{tk}", oauth_version="1.0"'
    )


def _encode(pairs):
    """url.Values.Encode(): sorted by key, values in the order given."""
    return urllib.parse.urlencode(sorted(pairs, key=lambda kv: kv[0]))


class Go:
    """gomaasapi's request shapes against one region."""

    def __init__(self, region):
        self.region = region

    def call(self, method, path, pairs=(), op=None):
        url = self.region.api + path
        body = None
        headers = {"Authorization": _oauth(self.region.admin_key)}
        if method == "GET":
            q = list(pairs) + ([("op", op)] if op else [])
            if q:
                url += "?" + _encode(q)
        else:
            if op:
                url += "?" + urllib.parse.urlencode({"op": op})
            if method in ("POST", "PUT"):
                body = _encode(pairs).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def ok(self, method, path, pairs=(), op=None):
        status, _, body = self.call(method, path, pairs, op)
        assert 200 <= status < 300, f"{method} {path} op={op}: {status} {body[:400]!r}"
        return json.loads(body) if body else None


@pytest.fixture(scope="module")
def go(region):
    return Go(region)


@pytest.fixture
def fabric(go, unique):
    f = go.ok("POST", "fabrics/", [("name", f"gmc-{unique}")])
    yield f
    go.call("DELETE", f"fabrics/{f['id']}/")


def _subnet(go, fabric, cidr, gw, extra=()):
    # entity.SubnetParams: rdns_mode, allow_dns, allow_proxy, managed and
    # active_discovery are always sent; vid is omitted when 0.
    return go.ok(
        "POST",
        "subnets/",
        [
            ("cidr", cidr),
            ("name", f"gmc-{cidr.split('/')[0]}"),
            ("fabric", str(fabric["id"])),
            ("gateway_ip", gw),
            ("rdns_mode", "2"),
            ("allow_dns", "true"),
            ("allow_proxy", "false"),
            ("managed", "true"),
            ("active_discovery", "false"),
            *extra,
        ],
    )


def test_subnet_dns_servers_repeated_on_create_and_update(go, fabric):
    """maas_subnet with `dns_servers = [a, b]`: gomaasclient sends the field
    repeated; every server must be kept, on create and on update."""
    sn = _subnet(go, fabric, "10.91.0.0/24", "10.91.0.1",
                 [("dns_servers", "10.91.0.2"), ("dns_servers", "10.91.0.3")])
    try:
        assert sn["dns_servers"] == ["10.91.0.2", "10.91.0.3"]
        assert go.ok("GET", f"subnets/{sn['id']}/")["dns_servers"] == ["10.91.0.2", "10.91.0.3"]
        go.ok("PUT", f"subnets/{sn['id']}/", [
            ("cidr", "10.91.0.0/24"), ("name", "gmc-renamed"), ("fabric", str(fabric["id"])),
            ("gateway_ip", "10.91.0.1"), ("rdns_mode", "2"), ("allow_dns", "true"),
            ("allow_proxy", "false"), ("managed", "true"), ("active_discovery", "false"),
            ("dns_servers", "10.91.0.4"), ("dns_servers", "10.91.0.5"), ("dns_servers", "10.91.0.6"),
        ])
        got = go.ok("GET", f"subnets/{sn['id']}/")
        assert got["dns_servers"] == ["10.91.0.4", "10.91.0.5", "10.91.0.6"]
        assert got["name"] == "gmc-renamed"
    finally:
        go.call("DELETE", f"subnets/{sn['id']}/")


def test_dns_resource_delete_keeps_user_reserved_ip_for_release(go, fabric, unique):
    """maas_dns_record type A/AAAA, destroyed: the provider reads the DNS
    resource, deletes it, then releases each of its addresses. Deleting the
    resource must leave the user-reserved address for that release (204),
    and a second release answers 400 in MAAS's words."""
    sn = _subnet(go, fabric, "10.92.0.0/24", "10.92.0.1")
    dom = go.ok("POST", "domains/", [("name", f"gmc{unique}.example"), ("authoritative", "true")])
    try:
        # entity.DNSResourceParams: address_ttl always sent.
        r = go.ok("POST", "dnsresources/", [
            ("name", "www"), ("domain", dom["name"]), ("ip_addresses", "10.92.0.50"), ("address_ttl", "120"),
        ])
        r = go.ok("GET", f"dnsresources/{r['id']}/")
        assert [a["ip"] for a in r["ip_addresses"]] == ["10.92.0.50"]
        status, _, body = go.call("DELETE", f"dnsresources/{r['id']}/")
        assert status == 204, body
        # The address outlives the resource, still the user's reservation.
        left = go.ok("GET", "ipaddresses/", [("ip", "10.92.0.50")])
        assert [a["ip"] for a in left] == ["10.92.0.50"]
        status, _, body = go.call("POST", "ipaddresses/", [("ip", "10.92.0.50")], op="release")
        assert status == 204, body
        assert go.ok("GET", "ipaddresses/", [("ip", "10.92.0.50")]) == []
        status, headers, body = go.call("POST", "ipaddresses/", [("ip", "10.92.0.50")], op="release")
        assert status == 400
        assert headers.get_content_type() == "text/plain"
        assert body.decode() == (
            "IP address 10.92.0.50 does not exist, is not the correct type of address, "
            "or does not belong to the requesting user.\n"
            "If you are sure you want to release this address, use force=true as a MAAS administrator."
        )
    finally:
        go.call("DELETE", f"domains/{dom['id']}/")
        go.call("DELETE", f"subnets/{sn['id']}/")


def test_ip_range_update_changes_type_and_subnet(go, fabric, unique):
    """maas_subnet_ip_range updates `type` and `subnet` in place (neither is
    ForceNew in the provider); MAAS's IPRangeForm applies both. A region that
    ignores them leaves Terraform with a diff on every plan."""
    a = _subnet(go, fabric, "10.93.0.0/24", "10.93.0.1")
    f2 = go.ok("POST", "fabrics/", [("name", f"gmc-b-{unique}")])
    b = _subnet(go, f2, "10.94.0.0/24", "10.94.0.1")
    try:
        # entity.IPRangeParams: type, subnet, start_ip, end_ip always sent.
        r = go.ok("POST", "ipranges/", [
            ("type", "reserved"), ("subnet", str(a["id"])), ("start_ip", "10.93.0.10"),
            ("end_ip", "10.93.0.20"), ("comment", "first"),
        ])
        assert r["type"] == "reserved"
        got = go.ok("PUT", f"ipranges/{r['id']}/", [
            ("type", "dynamic"), ("subnet", str(a["id"])), ("start_ip", "10.93.0.100"),
            ("end_ip", "10.93.0.150"), ("comment", "second"),
        ])
        assert (got["type"], got["start_ip"], got["end_ip"], got["comment"]) == (
            "dynamic", "10.93.0.100", "10.93.0.150", "second")
        got = go.ok("GET", f"ipranges/{r['id']}/")
        assert (got["type"], got["subnet"]["id"]) == ("dynamic", a["id"])
        got = go.ok("PUT", f"ipranges/{r['id']}/", [
            ("type", "reserved"), ("subnet", str(b["id"])), ("start_ip", "10.94.0.10"), ("end_ip", "10.94.0.20"),
        ])
        assert (got["type"], got["subnet"]["id"], got["start_ip"]) == ("reserved", b["id"], "10.94.0.10")
        # A range must still fit the subnet it moves to, in MAAS's field words.
        status, _, body = go.call("PUT", f"ipranges/{r['id']}/", [
            ("type", "reserved"), ("subnet", str(a["id"])), ("start_ip", "10.94.0.10"), ("end_ip", "10.94.0.20"),
        ])
        assert status == 400, body
        status, _, body = go.call("PUT", f"ipranges/{r['id']}/", [
            ("type", "bogus"), ("subnet", str(b["id"])), ("start_ip", "10.94.0.10"), ("end_ip", "10.94.0.20"),
        ])
        assert status == 400
        assert json.loads(body) == {"type": ["Select a valid choice. bogus is not one of the available choices."]}
        go.call("DELETE", f"ipranges/{r['id']}/")
    finally:
        go.call("DELETE", f"subnets/{a['id']}/")
        go.call("DELETE", f"subnets/{b['id']}/")
        go.call("DELETE", f"fabrics/{f2['id']}/")


def test_boot_source_selection_list_fields_repeated(go, tmp_path, unique):
    """maas_boot_source_selection: arches, subarches and labels are []string,
    sent repeated; all values are kept on create and update."""
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(b"\x99\x00\x0d\x04ironpool-compat")  # binary, not armoured
    src = go.ok("POST", "boot-sources/", [
        ("url", f"http://images.example/gmc-{unique}/"), ("keyring_filename", str(keyring)),
    ])
    try:
        sel = go.ok("POST", f"boot-sources/{src['id']}/selections/", [
            ("os", "ubuntu"), ("release", "jammy"), ("arches", "amd64"), ("arches", "arm64"),
            ("subarches", "*"), ("labels", "*"),
        ])
        assert sorted(sel["arches"]) == ["amd64", "arm64"]
        go.ok("PUT", f"boot-sources/{src['id']}/selections/{sel['id']}/", [
            ("os", "ubuntu"), ("release", "noble"), ("arches", "amd64"), ("arches", "arm64"),
            ("arches", "ppc64el"), ("subarches", "generic"), ("subarches", "hwe-24.04"), ("labels", "*"),
        ])
        got = go.ok("GET", f"boot-sources/{src['id']}/selections/{sel['id']}/")
        assert got["release"] == "noble"
        assert sorted(got["arches"]) == ["amd64", "arm64", "ppc64el"]
        assert sorted(got["subarches"]) == ["generic", "hwe-24.04"]
    finally:
        go.call("DELETE", f"boot-sources/{src['id']}/")


def test_device_mac_addresses_repeated(go, unique):
    """maas_device with two network interfaces: mac_addresses repeated."""
    d = go.ok("POST", "devices/", [
        ("hostname", f"gmc-dev-{unique}"), ("mac_addresses", "52:54:00:9a:00:01"),
        ("mac_addresses", "52:54:00:9a:00:02"),
    ])
    try:
        got = go.ok("GET", f"devices/{d['system_id']}/")
        assert sorted(i["mac_address"] for i in got["interface_set"]) == ["52:54:00:9a:00:01", "52:54:00:9a:00:02"]
    finally:
        go.call("DELETE", f"devices/{d['system_id']}/")
