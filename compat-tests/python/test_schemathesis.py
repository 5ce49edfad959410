"""Schemathesis over the whole checked-in OpenAPI document against the live
region (admin key, seeded objects): no generated request, valid or not,
may produce a server error, and every response must match the schema the
document gives for its status (the typed resource schemas: Machine, Subnet,
User, ...). Each request is signed with a fresh nonce and
timestamp, since the region rejects replayed OAuth nonces as MAAS does."""

import itertools
import json
import pathlib
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

SPEC = pathlib.Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
schema = schemathesis.openapi.from_path(SPEC)
_nonce = itertools.count()


def oauth_header(apikey):
    ck, tk, ts = apikey.split(":")
    return (
        'OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
        f'oauth_consumer_key="{ck}", oauth_token="{tk}", oauth_signature="%26{ts}", '
        f'oauth_nonce="st{next(_nonce)}-{time.time_ns()}", oauth_timestamp="{int(time.time())}"'
    )


@pytest.fixture(scope="session")
def seeded(region):
    """One machine, one zone, one tag, so item paths can hit real objects."""
    def post(path, data):
        req = urllib.request.Request(
            region.api + path,
            data=urllib.parse.urlencode(data, doseq=True).encode(),
            headers={"Authorization": oauth_header(region.admin_key)},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"seeding POST {path} {data}: {e.code} {e.read()[:300]!r}") from None

    post("machines/", {"architecture": "amd64", "mac_addresses": "52:54:00:5c:5c:01", "power_type": "manual", "commission": "false"})
    post("zones/", {"name": "st-zone"})
    post("tags/", {"name": "st-tag"})
    post("devices/", {"mac_addresses": "52:54:00:5c:5c:02", "hostname": "st-device"})
    post("spaces/", {"name": "st-space"})
    post("subnets/", {"cidr": "198.51.100.0/24", "gateway_ip": "198.51.100.1"})
    post("ipranges/", {"type": "reserved", "start_ip": "198.51.100.10", "end_ip": "198.51.100.20"})
    post("subnets/", {"cidr": "198.51.101.0/24"})
    post("static-routes/", {"source": "198.51.100.0/24", "destination": "198.51.101.0/24", "gateway_ip": "198.51.100.1"})
    post("dnsresources/", {"fqdn": "st-res.maas", "ip_addresses": "198.51.100.30"})
    post("notifications/", {"message": "st-note", "admins": "true"})
    # A machine with disks, a partition, a volume group with a logical
    # volume (virtual block devices), so storage responses are checked too.
    sid = json.loads(post("machines/", {"architecture": "amd64", "mac_addresses": "52:54:00:5c:5c:03", "power_type": "manual"}))["system_id"]
    # Commissioning ends when the machine signals OK with its own token.
    req = urllib.request.Request(f"{region.api}machines/{sid}/?op=get_token", headers={"Authorization": oauth_header(region.admin_key)})
    with urllib.request.urlopen(req) as r:
        t = json.loads(r.read())
    node_key = f"{t['consumer_key']}:{t['token_key']}:{t['token_secret']}"
    req = urllib.request.Request(
        region.api.replace("api/2.0/", "metadata/") + "latest/?op=signal",
        data=urllib.parse.urlencode({"status": "OK"}).encode(),
        headers={"Authorization": oauth_header(node_key)},
        method="POST",
    )
    urllib.request.urlopen(req).read()
    d1 = json.loads(post(f"nodes/{sid}/blockdevices/", {"name": "sda", "size": str(20 << 30), "block_size": "512", "model": "m", "serial": "s1"}))["id"]
    d2 = json.loads(post(f"nodes/{sid}/blockdevices/", {"name": "sdb", "size": str(20 << 30), "block_size": "512", "model": "m", "serial": "s2"}))["id"]
    post(f"nodes/{sid}/blockdevices/{d1}/partitions/", {"size": str(5 << 30)})
    vg = json.loads(post(f"nodes/{sid}/volume-groups/", {"name": "st-vg", "block_devices": str(d2)}))["id"]
    post(f"nodes/{sid}/volume-group/{vg}/?op=create_logical_volume", {"name": "st-lv", "size": str(5 << 30)})
    d3 = json.loads(post(f"nodes/{sid}/blockdevices/", {"name": "sdc", "size": str(20 << 30), "block_size": "512", "model": "m", "serial": "s3"}))["id"]
    d4 = json.loads(post(f"nodes/{sid}/blockdevices/", {"name": "sdd", "size": str(20 << 30), "block_size": "512", "model": "m", "serial": "s4"}))["id"]
    post(f"nodes/{sid}/raids/", {"name": "md0", "level": "raid-1", "block_devices": [str(d3), str(d4)]})
    post("dnsresourcerecords/", {"fqdn": "st-txt.maas", "rrtype": "TXT", "rrdata": "hello"})
    return region


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, seeded):
    response = case.call(base_url=seeded.api.rstrip("/"), headers={"Authorization": oauth_header(seeded.admin_key)})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance, status_code_conformance])
