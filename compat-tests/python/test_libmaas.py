"""The region driven by the real python-libmaas 0.6.8 client library.

Covers what the region serves today: version and describe-driven connect,
password login, users, account tokens, SSH keys, SSL keys (libmaas has no
typed object for them, so through its describe-driven `bones` layer), MAAS
configuration through libmaas's typed getters and setters, and libmaas's own
`maas` console script.

`client._origin.session` is libmaas's `bones.SessionAPI`: the raw,
describe-driven handlers (`session.User.delete(username=...)`), which is how
libmaas users reach actions its facade does not wrap.
"""

import getpass
import json
import re
import socket
import urllib.request

import pytest
from maas.client import connect, login
from maas.client.bones import CallError, SessionAPI, helpers
from maas.client.utils.maas_async import asynchronous
from maas.client.utils.profiles import ProfileStore

from conftest import ADMIN, USER

# Handlers the region serves today, by the name libmaas binds them under
# (describe handler name minus "Handler"; `MaasHandler` becomes `MAAS`).
SERVED = {"Version", "Users", "User", "Account", "SSHKeys", "SSHKey", "SSLKeys", "SSLKey", "MAAS"}
LOGIN_CONSUMER = f"{getpass.getuser()}@{socket.gethostname()}"


def session(client):
    return client._origin.session


def apikey_of(client):
    return ":".join(session(client).credentials)


def raises_status(status, fn, *args, **kwargs):
    """Calls fn, expecting libmaas to raise CallError with this HTTP status."""
    with pytest.raises(CallError) as e:
        fn(*args, **kwargs)
    assert e.value.status == status, f"expected HTTP {status}, got: {e.value}"
    return e.value


def fields_of(error):
    """The JSON field-error object of a 400 (`{"field": ["message", ...]}`)."""
    return json.loads(error.content.decode("utf-8"))


def tokens(client):
    """The caller's tokens as {"ck:tk:ts": name}."""
    return {t["token"]: t["name"] for t in session(client).Account.list_authorisation_tokens()}


# --------------------------------------------------------------------------
# version/, describe/ and connecting


def test_describe_is_anonymous_json_with_absolute_uris_from_our_host(region):
    # libmaas's own fetch: unsigned GET describe/, refuses anything but
    # 200 application/json.
    description = asynchronous(helpers.fetch_api_description)(region.api)
    handlers = [r[k] for r in description["resources"] for k in ("anon", "auth") if r[k]]
    names = {h["name"] for h in handlers}
    assert {"VersionHandler", "UsersHandler", "UserHandler", "AccountHandler", "SSHKeysHandler",
            "SSHKeyHandler", "SSLKeysHandler", "SSLKeyHandler", "MaasHandler"} <= names
    for h in handlers:
        # 0.6.8 uses `uri` verbatim: it must point back at the server we reached.
        assert h["uri"].startswith(region.api), h["uri"]
        assert set(re.findall(r"{(\w+)}", h["uri"])) == set(h["params"]), h["uri"]


def test_connect_binds_every_served_handler(admin):
    bound = {name for name, _ in session(admin).handlers}
    assert SERVED <= bound, f"missing: {SERVED - bound}"
    origin = admin._origin
    for obj in ("Version", "Users", "User", "Account", "SSHKeys", "SSHKey", "MAAS"):
        assert getattr(origin, obj)._handler is not None, obj


def test_version(region, admin):
    v = admin.version.get()
    with urllib.request.urlopen(region.api + "version/") as r:
        raw = json.load(r)
    assert v.version == raw["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", v.version), v.version
    # libmaas parses it strictly (distutils StrictVersion).
    assert v.version_info == tuple(int(p) for p in v.version.split("."))
    assert v.version_info >= (2, 0, 0)
    assert isinstance(v.subversion, str)
    assert "authenticate-api" in v.capabilities  # login() refuses servers without it
    assert v.capabilities == frozenset(raw["capabilities"])


def test_anonymous_session_binds_only_anonymous_handlers(region):
    anon = SessionAPI.fromURL(region.api)
    # Anonymous handlers: version/, and enlistment/file-key access on
    # machines/, nodes/ and files/ (AnonMachinesHandler etc., bound without "Anon").
    assert {name for name, _ in anon.handlers} == {"Version", "Machines", "Nodes", "Files"}
    assert "authenticate-api" in anon.Version.read()["capabilities"]


def test_connect_with_api_url(region):
    client = connect(region.api, apikey=region.admin_key)
    assert client.users.whoami().username == ADMIN["username"]


def test_unknown_apikey_is_401(region):
    bad = connect(region.url, apikey="aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc")
    raises_status(401, bad.users.whoami)
    raises_status(401, bad.ssh_keys.list)
    # Anonymous handlers ignore the (bad) credentials libmaas still sends.
    assert bad.version.get().version


def test_wrong_token_secret_is_401(region):
    ck, tk, _ = region.admin_key.split(":")
    bad = connect(region.url, apikey=f"{ck}:{tk}:{'x' * 32}")
    raises_status(401, bad.users.whoami)


# --------------------------------------------------------------------------
# Password login (POST /MAAS/accounts/authenticate/)


def test_password_login(region, user):
    client = login(region.url, username=user["username"], password=user["password"])
    me = client.users.whoami()
    assert (me.username, me.email, me.is_admin) == (user["username"], user["email"], False)
    # The token login returned is named after libmaas's consumer (user@host).
    assert tokens(client).get(apikey_of(client)) == LOGIN_CONSUMER


def test_password_login_reuses_the_token_of_the_same_consumer(region, user):
    first = login(region.url, username=user["username"], password=user["password"])
    second = login(region.url, username=user["username"], password=user["password"])
    assert apikey_of(first) == apikey_of(second)
    assert list(tokens(second).values()).count(LOGIN_CONSUMER) == 1


def test_password_login_as_admin(region, admin):
    client = login(region.url, username=ADMIN["username"], password=ADMIN["password"])
    me = client.users.whoami()
    assert (me.username, me.is_admin) == (ADMIN["username"], True)
    assert apikey_of(client) != region.admin_key  # its own consumer's token


def test_login_with_credentials_in_url(region, user):
    url = region.url.replace("http://", f"http://{user['username']}:{user['password']}@")
    assert login(url).users.whoami().username == user["username"]


@pytest.mark.parametrize("who", ["wrong password", "unknown user", "wrong case"])
def test_login_with_bad_credentials_is_403(region, user, who):
    username, password = {
        "wrong password": (user["username"], user["password"] + "x"),
        "unknown user": ("nobody-here", user["password"]),
        "wrong case": (user["username"], user["password"].upper()),
    }[who]
    with pytest.raises(helpers.RemoteError) as e:
        login(region.url, username=username, password=password)
    assert str(e.value) == f"{region.url}accounts/authenticate/ -> 403 Forbidden"


def test_login_without_username_finds_no_macaroon_support(region):
    # `maas login URL` first tries the macaroon flow: an unsigned POST to
    # account/?op=create_authorisation_token must be 401.
    with pytest.raises(helpers.MacaroonLoginNotSupported):
        helpers.login(region.url)


def test_anonymous_login_profile(region):
    profile = helpers.login(region.url, anonymous=True)
    assert profile.credentials is None
    assert profile.url == region.api
    names = {r["auth"]["name"] for r in profile.description["resources"] if r["auth"]}
    assert "UsersHandler" in names


# --------------------------------------------------------------------------
# Users


def test_whoami_admin(admin):
    me = admin.users.whoami()
    assert (me.username, me.email, me.is_admin) == (ADMIN["username"], ADMIN["email"], True)


def test_whoami_non_admin(user_client, user):
    me = user_client.users.whoami()
    assert (me.username, me.email, me.is_admin) == (user["username"], user["email"], False)


@pytest.mark.parametrize("as_", ["admin", "non-admin"])
def test_list_users(admin, user_client, user, as_):
    client = admin if as_ == "admin" else user_client
    by_name = {u.username: (u.email, u.is_admin) for u in client.users.list()}
    # MAAS shows every user's email to every user; Ironpool shows other
    # users' emails to administrators only (docs/security.md) and keeps the
    # field a string, so libmaas still builds its User objects.
    admin_email = ADMIN["email"] if as_ == "admin" else ""
    assert by_name[ADMIN["username"]] == (admin_email, True)
    assert by_name[user["username"]] == (user["email"], False)


def test_read_user(admin, user):
    u = admin._origin.User.read(user["username"])
    assert (u.username, u.email, u.is_admin) == (user["username"], user["email"], False)


def test_read_unknown_user_is_404(admin):
    raises_status(404, admin._origin.User.read, "no-such-user")


def test_create_user(region, admin, unique):
    name = f"bob-{unique}"
    u = admin.users.create(name, "bob-Pa55word!", email=f"{name}@example.org")
    assert (u.username, u.email, u.is_admin) == (name, f"{name}@example.org", False)
    assert name in {x.username for x in admin.users.list()}
    # The password works for login().
    assert login(region.url, username=name, password="bob-Pa55word!").users.whoami().username == name


def test_create_admin_user(region, admin, unique):
    name = f"root-{unique}"
    u = admin.users.create(name, "root-Pa55word!", email=f"{name}@example.org", is_admin=True)
    assert u.is_admin is True
    client = login(region.url, username=name, password="root-Pa55word!")
    assert client.users.whoami().is_admin is True


def test_create_user_with_libmaas_default_email(admin, unique):
    name = f"carol-{unique}"
    u = admin.users.create(name, "carol-Pa55word!")
    assert u.email == f"{name}@null.maas.io"


def test_username_with_punctuation_round_trips_through_the_url(admin, unique):
    # libmaas substitutes {username} into the URL without escaping.
    name = f"dan.o+{unique}@corp"
    admin.users.create(name, "dan-Pa55word!", email=f"dan-{unique}@example.org")
    assert admin._origin.User.read(name).email == f"dan-{unique}@example.org"


def test_create_duplicate_user_is_400(admin, user):
    err = raises_status(400, admin.users.create, user["username"], "x", email="other@example.org")
    assert "username" in fields_of(err)


def test_create_user_with_bad_email_is_400(admin, unique):
    err = raises_status(400, admin.users.create, f"eve-{unique}", "x", email="not-an-email")
    assert list(fields_of(err)) == ["email"]


def test_non_admin_cannot_create_users(user_client, admin, unique):
    raises_status(403, user_client.users.create, f"mallory-{unique}", "x")
    assert f"mallory-{unique}" not in {u.username for u in admin.users.list()}


def test_delete_user(region, admin, unique):
    name = f"frank-{unique}"
    admin.users.create(name, "frank-Pa55word!")
    doomed = login(region.url, username=name, password="frank-Pa55word!")
    assert doomed.users.whoami().username == name
    assert session(admin).User.delete(username=name) == b""  # 204, no body
    raises_status(404, admin._origin.User.read, name)
    raises_status(401, doomed.users.whoami)  # its keys went with it


def test_non_admin_cannot_delete_users(user_client, admin):
    raises_status(403, session(user_client).User.delete, username=ADMIN["username"])
    assert admin._origin.User.read(ADMIN["username"]).is_admin is True


def test_admin_cannot_delete_itself(admin):
    err = raises_status(400, session(admin).User.delete, username=ADMIN["username"])
    assert b"self-delete" in err.content


# --------------------------------------------------------------------------
# Account: API tokens


def test_create_and_delete_credentials(region, admin):
    creds = admin.account.create_credentials()
    key = ":".join(creds)
    assert [len(p) for p in creds] == [18, 18, 32]
    assert key in tokens(admin)
    extra = connect(region.url, apikey=key)
    assert extra.users.whoami().username == ADMIN["username"]
    admin.account.delete_credentials(creds)
    assert key not in tokens(admin)
    raises_status(401, extra.users.whoami)
    assert admin.users.whoami().username == ADMIN["username"]  # the others still work


def test_named_token_list_and_rename(user_client, unique):
    account = session(user_client).Account
    t = account.create_authorisation_token(name=f"ci-{unique}")
    key = f"{t['consumer_key']}:{t['token_key']}:{t['token_secret']}"
    assert tokens(user_client)[key] == f"ci-{unique}"
    account.update_token_name(token=t["token_key"], name=f"renamed ☃ {unique}")
    assert tokens(user_client)[key] == f"renamed ☃ {unique}"
    account.update_token_name(token=key, name=f"by-whole-key-{unique}")
    assert tokens(user_client)[key] == f"by-whole-key-{unique}"
    account.delete_authorisation_token(token_key=t["token_key"])
    assert key not in tokens(user_client)


def test_tokens_are_per_user(admin, user_client, user):
    assert user["key"] in tokens(user_client)
    assert user["key"] not in tokens(admin)
    assert apikey_of(admin) not in tokens(user_client)
    # Nobody can delete someone else's token.
    raises_status(404, session(user_client).Account.delete_authorisation_token,
                  token_key=apikey_of(admin).split(":")[1])
    assert admin.users.whoami().username == ADMIN["username"]


def test_delete_unknown_token_is_404(admin):
    raises_status(404, session(admin).Account.delete_authorisation_token, token_key="nosuchtokenkey0000")


# --------------------------------------------------------------------------
# SSH keys


def test_ssh_key_create_list_get(admin, new_ssh_key):
    text = new_ssh_key("admin@compat host")
    k = admin.ssh_keys.create(text)
    assert isinstance(k.id, int)
    assert k.key == text
    assert not k.keysource
    assert text in {x.key for x in admin.ssh_keys.list()}
    again = admin.ssh_keys.get(k.id)
    assert (again.id, again.key) == (k.id, text)


def test_ssh_key_delete(admin, new_ssh_key):
    k = admin.ssh_keys.create(new_ssh_key())
    assert session(admin).SSHKey.delete(id=k.id) == b""  # 204, no body
    raises_status(404, admin.ssh_keys.get, k.id)
    assert k.id not in {x.id for x in admin.ssh_keys.list()}


@pytest.mark.parametrize("bad", [
    "ssh-rsa garbage",
    "not-a-key-type AAAAC3NzaC1lZDI1NTE5AAAAIA==",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",  # truncated key data
], ids=["not-base64", "unknown-type", "truncated-ed25519"])
def test_invalid_ssh_key_is_400(admin, bad):
    err = raises_status(400, admin.ssh_keys.create, bad)
    assert list(fields_of(err)) == ["key"]


def test_duplicate_ssh_key_is_400(admin, new_ssh_key):
    text = new_ssh_key()
    admin.ssh_keys.create(text)
    err = raises_status(400, admin.ssh_keys.create, text)
    assert "key" in fields_of(err)


def test_ssh_keys_are_per_user(admin, user_client, new_ssh_key):
    mine = admin.ssh_keys.create(new_ssh_key("admin-only"))
    assert mine.id not in {k.id for k in user_client.ssh_keys.list()}
    raises_status(403, user_client.ssh_keys.get, mine.id)
    raises_status(403, session(user_client).SSHKey.delete, id=mine.id)
    assert admin.ssh_keys.get(mine.id).key == mine.key


def test_admin_adds_ssh_key_for_another_user(admin, user_client, user, new_ssh_key):
    text = new_ssh_key("given-by-admin")
    k = session(admin).SSHKeys.create(key=text, user=user["username"])
    assert k["key"] == text
    assert text in {x.key for x in user_client.ssh_keys.list()}
    assert text not in {x.key for x in admin.ssh_keys.list()}


def test_non_admin_cannot_add_ssh_key_for_another_user(user_client, admin, new_ssh_key):
    text = new_ssh_key("sneaky")
    raises_status(403, session(user_client).SSHKeys.create, key=text, user=ADMIN["username"])
    assert text not in {x.key for x in admin.ssh_keys.list()}


def test_ssh_key_import_from_launchpad_and_github(user_client):
    # The region fetches from conftest's stand-in sites (launchpad_url,
    # github_api_url); libmaas gets MAAS's list of {id, key, keysource}.
    from conftest import SITE_KEY

    imported = getattr(session(user_client).SSHKeys, "import")(keysource="lp:compat")
    assert [(k["key"], k["keysource"]) for k in imported] == [(SITE_KEY, "lp:compat")]
    assert SITE_KEY in {x.key for x in user_client.ssh_keys.list()}
    again = getattr(session(user_client).SSHKeys, "import")(keysource="lp:compat")
    assert [k["id"] for k in again] == [k["id"] for k in imported]
    # MAAS's words for an unknown account and an unknown protocol.
    err = raises_status(400, getattr(session(user_client).SSHKeys, "import"), keysource="gh:nobody")
    assert err.content == b"Unable to import SSH keys. Github user nobody doesn't exist."
    err = raises_status(400, getattr(session(user_client).SSHKeys, "import"), keysource="xx:compat")
    assert err.content == b"Unknown protocol xx. Valid protocols are 'LP' and 'GH'."


# --------------------------------------------------------------------------
# SSL keys: libmaas 0.6.8 has no typed object; its describe-driven handlers


def test_ssl_key_create_list_read_delete(admin, new_cert):
    pem = new_cert()
    ssl = session(admin)
    k = ssl.SSLKeys.create(key=pem)
    assert isinstance(k["id"], int)
    assert k["key"].strip() == pem.strip()
    assert k["id"] in {x["id"] for x in ssl.SSLKeys.read()}
    assert ssl.SSLKey.read(id=k["id"])["key"].strip() == pem.strip()
    assert ssl.SSLKey.delete(id=k["id"]) == b""
    raises_status(404, ssl.SSLKey.read, id=k["id"])
    assert k["id"] not in {x["id"] for x in ssl.SSLKeys.read()}


def test_invalid_ssl_key_is_400(admin):
    err = raises_status(400, session(admin).SSLKeys.create, key="-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    assert list(fields_of(err)) == ["key"]


def test_ssl_keys_are_per_user(admin, user_client, new_cert):
    k = session(admin).SSLKeys.create(key=new_cert("admin-only"))
    try:
        assert k["id"] not in {x["id"] for x in session(user_client).SSLKeys.read()}
        raises_status(403, session(user_client).SSLKey.read, id=k["id"])
        raises_status(403, session(user_client).SSLKey.delete, id=k["id"])
    finally:
        session(admin).SSLKey.delete(id=k["id"])


# --------------------------------------------------------------------------
# MAAS configuration through libmaas's typed getters and setters


def test_fresh_region_config_defaults(fresh_config):
    # MAAS's defaults, as libmaas's getters present them.
    c = fresh_config
    assert c["name"] == socket.gethostname()
    assert c["default_os"] == "ubuntu"
    assert re.fullmatch(r"[a-z]+", c["default_distro_series"])
    assert re.fullmatch(r"[a-z]+", c["commissioning_distro_series"])
    assert c["ntp_server"] == "ntp.ubuntu.com"
    assert c["enable_http_proxy"] is True
    assert c["http_proxy"] is None
    assert c["kernel_options"] is None
    assert c["windows_kms_host"] is None
    assert c["default_min_hwe_kernel"] is None
    assert c["default_dns_ttl"] == 30
    assert c["dnssec_validation"].name == "AUTO"
    assert c["default_storage_layout"].name == "FLAT"
    assert c["main_archive"] == "http://archive.ubuntu.com/ubuntu"
    assert c["ports_archive"] == "http://ports.ubuntu.com/ubuntu-ports"


def test_fresh_region_has_no_upstream_dns(fresh_config):
    assert fresh_config["upstream_dns"] == []


@pytest.mark.parametrize("name", ["ironpool-compat", "Lab ☃ north, rack 7"], ids=["ascii", "unicode"])
def test_set_name(admin, user_client, name):
    admin.maas.set_name(name)
    assert admin.maas.get_name() == name
    assert user_client.maas.get_name() == name  # anyone may read it


@pytest.mark.parametrize("getter,setter,value", [
    ("get_default_distro_series", "set_default_distro_series", "jammy"),
    ("get_commissioning_distro_series", "set_commissioning_distro_series", "focal"),
    ("get_default_os", "set_default_os", "centos"),
    ("get_main_archive", "set_main_archive", "http://mirror.example.com/ubuntu"),
    ("get_ports_archive", "set_ports_archive", "https://mirror.example.com/ubuntu-ports"),
    ("get_http_proxy", "set_http_proxy", "http://proxy.example.com:3128/"),
    ("get_kernel_options", "set_kernel_options", "console=ttyS0,115200 quiet"),
    ("get_windows_kms_host", "set_windows_kms_host", "kms.example.com"),
    ("get_default_min_hwe_kernel", "set_default_min_hwe_kernel", "hwe-22.04"),
    ("get_default_dns_ttl", "set_default_dns_ttl", 120),
])
def test_typed_setting_round_trip(admin, getter, setter, value):
    getattr(admin.maas, setter)(value)
    assert getattr(admin.maas, getter)() == value


@pytest.mark.parametrize("getter,setter", [
    ("get_http_proxy", "set_http_proxy"),
    ("get_kernel_options", "set_kernel_options"),
    ("get_windows_kms_host", "set_windows_kms_host"),
])
def test_optional_setting_cleared_with_none(admin, getter, setter):
    getattr(admin.maas, setter)("http://set.example.com/" if "proxy" in setter else "something")
    assert getattr(admin.maas, getter)() is not None
    getattr(admin.maas, setter)(None)  # libmaas sends ""
    assert getattr(admin.maas, getter)() is None


@pytest.mark.parametrize("setting", [
    "enable_http_proxy", "curtin_verbose", "enable_disk_erasing_on_release",
    "boot_images_auto_import", "enable_third_party_drivers",
])
def test_boolean_setting_round_trip(admin, setting):
    get, set_ = getattr(admin.maas, "get_" + setting), getattr(admin.maas, "set_" + setting)
    for value in (False, True, False):  # libmaas sends "true"/"false"
        set_(value)
        assert get() is value  # a real JSON boolean, not a string


def test_ntp_server_legacy_alias(admin):
    admin.maas.set_ntp_server("ntp1.example.com 10.0.0.1")
    assert admin.maas.get_ntp_server() == "ntp1.example.com 10.0.0.1"
    assert admin.maas.get_config("ntp_servers") == "ntp1.example.com 10.0.0.1"
    admin.maas.set_config("ntp_servers", "ntp2.example.com")
    assert admin.maas.get_ntp_server() == "ntp2.example.com"


def test_upstream_dns_round_trip(admin):
    admin.maas.set_upstream_dns(["192.0.2.53", "2001:db8::53"])
    assert admin.maas.get_upstream_dns() == ["192.0.2.53", "2001:db8::53"]


def test_enum_settings_round_trip(admin):
    m = admin.maas
    for v in (m.DNSSEC.NO, m.DNSSEC.YES, m.DNSSEC.AUTO):
        m.set_dnssec_validation(v)
        assert m.get_dnssec_validation() is v
    for v in (m.StorageLayout.LVM, m.StorageLayout.BCACHE, m.StorageLayout.FLAT):
        m.set_default_storage_layout(v)
        assert m.get_default_storage_layout() is v


def test_libmaas_config_round_trip_helper(admin, capsys):
    # libmaas's own testing helper: reads every typed getter and writes the
    # value back through its setter, printing failures.
    admin._origin.MAAS._roundtrip()
    out = capsys.readouterr().out
    assert ">>> name" in out and ">>> ntp_server" in out
    assert "!!!" not in out and "HTTP 4" not in out and "HTTP 5" not in out, out


def test_set_config_invalid_value_is_400(admin):
    err = raises_status(400, admin.maas.set_default_dns_ttl, 0)
    assert list(fields_of(err)) == ["value"]
    err = raises_status(400, admin.maas.set_config, "enable_http_proxy", "maybe")
    assert list(fields_of(err)) == ["value"]
    admin.maas.set_default_dns_ttl(300)
    raises_status(400, admin.maas.set_config, "default_dns_ttl", "x")
    assert admin.maas.get_default_dns_ttl() == 300  # unchanged


def test_unknown_config_name_is_400(admin):
    err = raises_status(400, admin.maas.get_config, "no_such_setting")
    assert list(fields_of(err)) == ["name"]
    raises_status(400, admin.maas.set_config, "no_such_setting", "1")


def test_non_admin_reads_config_but_cannot_set_it(admin, user_client):
    admin.maas.set_name("before-non-admin")
    raises_status(403, user_client.maas.set_name, "hijacked")
    raises_status(403, user_client.maas.set_enable_http_proxy, False)
    assert user_client.maas.get_name() == "before-non-admin"


# --------------------------------------------------------------------------
# libmaas's `maas` console script

SHELL_SCRIPT = """
import json
me = client.users.whoami()
print("RESULT " + json.dumps({
    "username": me.username, "email": me.email, "is_admin": me.is_admin,
    "maas_name": client.maas.get_name(),
    "ssh_keys": [k.key for k in client.ssh_keys.list()],
}))
"""


def shell_result(maas_cli, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(SHELL_SCRIPT)
    r = maas_cli("shell", str(script))
    assert r.returncode == 0, r.stdout + r.stderr
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert line, r.stdout
    return json.loads(line[-1][len("RESULT "):])


def cli_profiles(maas_cli):
    r = maas_cli("profiles", "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    return {p["name"]: p for p in json.loads(r.stdout)["data"]}


def test_cli_login_with_apikey_then_shell(region, admin, maas_cli, tmp_path, new_ssh_key):
    key_text = new_ssh_key("cli-check")
    admin.ssh_keys.create(key_text)
    admin.maas.set_name("cli-visible-name")
    r = maas_cli("login", "-p", "compat", region.url, "--apikey", region.admin_key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "profile name compat" in r.stdout
    assert cli_profiles(maas_cli)["compat"] == {"name": "compat", "url": region.api, "is_default": True}
    with ProfileStore.open(dbpath=maas_cli.home / ".maas.db",
                           migrate_from=maas_cli.home / ".maascli.db") as store:
        p = store.load("compat")
    assert ":".join(p.credentials) == region.admin_key
    assert "UsersHandler" in {r["auth"]["name"] for r in p.description["resources"] if r["auth"]}
    got = shell_result(maas_cli, tmp_path)
    assert got["username"] == ADMIN["username"] and got["is_admin"] is True
    assert got["maas_name"] == "cli-visible-name"
    assert key_text in got["ssh_keys"]


def test_cli_login_with_password_then_shell(region, user, maas_cli, tmp_path):
    r = maas_cli("login", region.url, user["username"], user["password"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert cli_profiles(maas_cli)[user["username"]]["is_default"] is True
    got = shell_result(maas_cli, tmp_path)
    assert (got["username"], got["email"], got["is_admin"]) == (user["username"], user["email"], False)


def test_cli_login_password_from_stdin(region, user, maas_cli, tmp_path):
    r = maas_cli("login", "-p", "piped", region.url, user["username"], "-", input=user["password"] + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert shell_result(maas_cli, tmp_path)["username"] == user["username"]


def test_cli_login_with_wrong_password_fails(region, user, maas_cli):
    r = maas_cli("login", region.url, user["username"], "wrong-" + user["password"])
    assert r.returncode != 0
    assert f"{region.url}accounts/authenticate/ -> 403 Forbidden" in r.stderr + r.stdout
    assert user["username"] not in cli_profiles(maas_cli)


def test_cli_profile_with_unknown_key_gets_401(region, maas_cli, tmp_path):
    bad = "aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc"
    r = maas_cli("login", "-p", "bad", region.url, "--apikey", bad)
    assert r.returncode == 0, r.stdout + r.stderr  # describe/ is anonymous; nothing checks the key yet
    script = tmp_path / "probe.py"
    script.write_text(SHELL_SCRIPT)
    r = maas_cli("shell", str(script))
    assert r.returncode != 0
    assert "HTTP 401" in r.stdout + r.stderr


# --------------------------------------------------------------------------
# boot resources (libmaas's chunked upload, list, get, delete)


def test_boot_resources_upload_list_get_delete(admin, user_client, unique):
    import hashlib
    import io

    from maas.client.viscera.boot_resources import BootResourceFileType

    data = bytes(range(256)) * 40 + unique.encode()  # > one 4 KiB chunk below
    progress = []
    r = admin.boot_resources.create(
        f"custom/libmaas-{unique}", "amd64/generic", io.BytesIO(data),
        title="libmaas upload", filetype=BootResourceFileType.DDTGZ,
        chunk_size=4096, progress_callback=progress.append,
    )
    assert r.type == "Uploaded" and r.architecture == "amd64/generic"
    assert progress and progress[-1] == 1.0
    (version,) = r.sets.keys()
    rset = r.sets[version]
    assert rset.complete is True and rset.size == len(data)
    (rfile,) = rset.files.values()
    assert (rfile.filetype, rfile.size, rfile.complete) == ("root-dd", len(data), True)
    assert rfile.sha256 == hashlib.sha256(data).hexdigest()

    # Everyone lists (without sets) and reads.
    listed = {b.id: b for b in user_client.boot_resources.list()}
    assert listed[r.id].name == f"custom/libmaas-{unique}" and listed[r.id].sets is None
    got = user_client.boot_resources.get(r.id)
    assert got.sets[version].files[rfile.filename].complete is True

    # Same content again under another name: complete at once, no upload.
    again = admin.boot_resources.create(
        f"custom/libmaas2-{unique}", "amd64/generic", io.BytesIO(data), filetype=BootResourceFileType.DDTGZ,
        progress_callback=lambda p: pytest.fail("nothing to upload"),
    )
    assert list(again.sets.values())[0].complete is True

    raises_status(403, user_client.boot_resources.get(r.id).delete)
    for res in (r, again):
        admin.boot_resources.get(res.id).delete()
    assert r.id not in {b.id for b in admin.boot_resources.list()}
    raises_status(404, admin.boot_resources.get, r.id)


def test_boot_resource_bad_architecture_is_400(admin):
    import io

    e = raises_status(400, admin.boot_resources.create, "custom/x", "vax/generic", io.BytesIO(b"abc"))
    assert "architecture" in fields_of(e)


def test_boot_resources_import_ops(admin, user_client):
    bones = session(admin).BootResources
    getattr(bones, "import")()  # no boot sources: an import that finds nothing
    assert bones.is_importing() in (True, False)
    bones.stop_import()
    assert session(user_client).BootResources.is_importing() in (True, False)
    raises_status(403, getattr(session(user_client).BootResources, "import"))
