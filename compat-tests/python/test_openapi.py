"""The checked-in OpenAPI document validates with openapi-spec-validator and
is what the live region serves."""

import pathlib
import urllib.request

import yaml
from openapi_spec_validator import validate

SPEC = pathlib.Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"


def test_checked_in_spec_is_valid_openapi():
    doc = yaml.safe_load(SPEC.read_text())
    validate(doc)
    assert doc["openapi"].startswith("3.")
    # MAAS's conventions: op-<name> paths and Handler_action operation ids.
    assert doc["paths"]["/machines/op-allocate"]["post"]["operationId"] == "MachinesHandler_allocate"
    assert "/users/op-whoami" in doc["paths"]


def test_live_region_serves_the_same_spec(region):
    with urllib.request.urlopen(region.api + "openapi.yaml") as r:
        assert r.headers["Content-Type"] == "application/openapi+yaml"
        served = r.read().decode()
    assert served.strip() == SPEC.read_text().strip()
