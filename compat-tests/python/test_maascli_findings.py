"""What driving the upstream `maas` CLI (compat-tests/maascli/) found, kept as
raw-HTTP regression tests CI runs (the CLI itself lives in MAAS's repository
and cannot run in CI).

Each request is built the way maascli/apiclient build it: POST and PUT
parameters as a MIME multipart/form-data body whose parts are base64
`text/plain; charset="utf-8"` (files: `application/octet-stream` parts with
a filename), GET and DELETE parameters in the query string, an OAuth 1.0
PLAINTEXT `Authorization` header. The CLI fails a command (exit 2) on any
non-2xx status and reads every response's Content-Type (json and text/*
print as text).
"""

import base64
import http.client
import json
import time
import urllib.parse
import uuid

import pytest


def _auth(key):
    consumer, token, secret = key.split(":")
    return (
        'OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
        f'oauth_consumer_key="{consumer}", oauth_token="{token}", '
        f'oauth_signature="%26{secret}", oauth_nonce="{uuid.uuid4().hex}", '
        f'oauth_timestamp="{int(time.time())}"'
    )


def _multipart(fields):
    """A multipart/form-data body shaped like apiclient.multipart's."""
    boundary = "===============" + uuid.uuid4().hex + "=="
    lines = []
    for name, value in fields:
        lines.append(f"--{boundary}")
        if isinstance(value, bytes):  # `name@=FILE`
            lines += [
                "Content-Type: application/octet-stream",
                "MIME-Version: 1.0",
                "Content-Transfer-Encoding: base64",
                f'Content-Disposition: form-data; name="{name}"; filename="{name}"',
            ]
            data = value
        else:
            lines += [
                'Content-Type: text/plain; charset="utf-8"',
                "MIME-Version: 1.0",
                "Content-Transfer-Encoding: base64",
                f'Content-Disposition: form-data; name="{name}"',
            ]
            data = value.encode("utf-8")
        lines += ["", base64.encodebytes(data).decode("ascii").rstrip("\n")]
    lines.append(f"--{boundary}--")
    body = "\r\n".join(lines).encode("ascii")
    return body, {"Content-Type": f'multipart/form-data; boundary="{boundary}"', "MIME-Version": "1.0"}


def cli_call(region, method, path, fields=(), key=None):
    """One request as the CLI sends it; returns (status, content type, body text)."""
    key = key or region.admin_key
    path = "/MAAS/api/2.0/" + path
    headers = {"Authorization": _auth(key), "Accept": "*/*"}
    body = None
    if method in ("GET", "DELETE"):
        if fields:
            sep = "&" if "?" in path else "?"
            path += sep + urllib.parse.urlencode(list(fields))
    else:
        body, extra = _multipart(fields)
        headers.update(extra)
        headers["Content-Length"] = str(len(body))
    conn = http.client.HTTPConnection("127.0.0.1", region.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.fixture
def subnet(region, unique):
    octet = int(unique[:2], 16) % 200 + 20
    status, _, body = cli_call(region, "POST", "subnets/", [("cidr", f"10.{octet}.77.0/24")])
    assert status == 200, body
    return json.loads(body)


def test_subnet_delete_after_an_address_reservation(region, subnet):
    """`maas admin ipaddresses reserve ip=…` then `maas admin subnet delete ID`:
    MAAS deletes the subnet (only addresses on nodes' interfaces block it)
    and the reservation goes with it; Ironpool refused with a 400 of its own."""
    ip = subnet["cidr"].replace("0/24", "50")
    status, _, body = cli_call(region, "POST", "ipaddresses/?op=reserve", [("ip", ip)])
    assert status == 200, body
    status, ctype, body = cli_call(region, "DELETE", f"subnets/{subnet['id']}/")
    assert status == 204, body
    assert ctype and ctype.startswith("text/plain"), ctype  # the CLI reads it
    assert body == ""
    status, _, body = cli_call(region, "GET", f"subnets/{subnet['id']}/")
    assert status == 404
    status, _, body = cli_call(region, "GET", "ipaddresses/", [("all", "true")])
    assert ip not in body


def test_subnet_delete_refused_while_a_node_holds_an_address(region, subnet, unique):
    """MAAS's words and status for a subnet whose addresses nodes' interfaces
    hold; `force=true` (in the query string, as the CLI sends DELETE
    parameters) deletes it anyway."""
    mac = "52:54:00:%s:%s:%s" % (unique[0:2], unique[2:4], unique[4:6])
    status, _, body = cli_call(region, "POST", "devices/", [("hostname", f"d{unique}"), ("mac_addresses", mac)])
    assert status == 200, body
    dev = json.loads(body)
    iface = dev["interface_set"][0]["id"]
    ip = subnet["cidr"].replace("0/24", "9")
    status, _, body = cli_call(
        region,
        "POST",
        f"nodes/{dev['system_id']}/interfaces/{iface}/?op=link_subnet",
        [("mode", "STATIC"), ("subnet", str(subnet["id"])), ("ip_address", ip)],
    )
    assert status == 200, body
    status, ctype, body = cli_call(region, "DELETE", f"subnets/{subnet['id']}/")
    assert status == 400
    assert ctype and ctype.startswith("text/plain"), ctype
    assert body == (
        "Cannot delete a subnet that has IP addresses in use by nodes. "
        "(Use the 'force' parameter to override.)"
    )
    status, _, body = cli_call(region, "DELETE", f"subnets/{subnet['id']}/", [("force", "true")])
    assert status == 204, body
    status, _, body = cli_call(region, "GET", f"devices/{dev['system_id']}/")
    assert json.loads(body)["ip_addresses"] == []
    assert cli_call(region, "DELETE", f"devices/{dev['system_id']}/")[0] == 204
