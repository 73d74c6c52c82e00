"""What ``metrics_server.py`` registers and how it reads the metrics API (no cluster)."""

from __future__ import annotations

import ipaddress

import pytest

from tests.engine.kube.metrics_server import APISERVICE, NAME, NAMESPACE, _objects, millis
from tests.engine.kube.node import NODE_IP


@pytest.mark.parametrize(("quantity", "expected"), [
    ("1500m", 1500),
    ("2", 2000),
    ("0.25", 250),
    ("12345678n", 12),  # nanocores, rounded down
    ("999999n", 0),
    ("250u", 0),
    ("1250u", 1),
], ids=["millicores", "cores", "fraction", "nanocores", "under-one-milli", "microcores",
        "microcores-rounded-down"])
def test_cpu_quantity_in_millicores(quantity: str, expected: int) -> None:
    assert millis(quantity) == expected


def test_registration_sends_the_aggregator_to_the_bridge_address() -> None:
    """Service (selectorless), Endpoints at the node's bridge address (an Endpoints address may
    not be loopback) on the server's port, APIService v1beta1.metrics.k8s.io through that
    Service with the cluster CA as caBundle."""
    (svc_path, svc), (ep_path, ep), (api_path, api) = _objects(40123, "Q0E=")
    assert svc_path == ep_path.replace("endpoints", "services")
    assert "selector" not in svc["spec"]
    (subset,) = ep["subsets"]
    assert subset["addresses"] == [{"ip": NODE_IP}]
    assert not ipaddress.ip_address(NODE_IP).is_loopback
    assert subset["ports"][0]["port"] == 40123
    assert svc["spec"]["ports"][0]["name"] == subset["ports"][0]["name"]
    assert api_path.endswith("/apiservices")
    assert api["metadata"]["name"] == APISERVICE
    assert api["spec"]["service"] == {"name": NAME, "namespace": NAMESPACE, "port": 443}
    assert api["spec"]["caBundle"] == "Q0E=" and "insecureSkipTLSVerify" not in api["spec"]
