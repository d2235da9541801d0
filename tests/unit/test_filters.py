"""The aicluster.platform filters: quantities for pool-wide quotas, patches for release manifests."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from tests.unit.collections_path_loader import load_filter

quantity_times = load_filter("quantity", "quantity_times")


@pytest.mark.parametrize(("quantity", "factor", "expected"), [
    ("192", 4, "768"), ("64Gi", 3, "192Gi"), ("2048Gi", 4, "8Ti"), ("2048Gi", 0, "0"),
    ("500m", 3, "1500m"), ("250", 4, "1k"), ("1.5", 2, "3"), ("1.5Gi", 1, "1536Mi"),
    ("16Gi", 2, "32Gi"), ("1024Ki", 1, "1Mi"),
])
def test_quantity_times(quantity: str, factor: int, expected: str) -> None:
    assert quantity_times(quantity, factor) == expected


def test_rejects_non_quantities() -> None:
    with pytest.raises(AnsibleFilterError, match="not a Kubernetes quantity"):
        quantity_times("lots", 2)


json_patch = load_filter("manifests", "json_patch")
local_webhooks = load_filter("manifests", "local_webhooks")


def test_json_patch_adds_replaces_and_removes_without_touching_its_input() -> None:
    document = {"metadata": {"name": "a"}, "webhooks": [{"name": "x"}, {"name": "y"}]}
    patched = json_patch(document, [
        {"op": "replace", "path": "/metadata/name", "value": "b"},
        {"op": "add", "path": "/webhooks/0/objectSelector", "value": {"matchLabels": {"k": "v"}}},
        {"op": "replace", "path": "/webhooks/1", "value": {"name": "z"}},
    ])
    selector = {"matchLabels": {"k": "v"}}
    assert patched["metadata"] == {"name": "b"}
    assert patched["webhooks"] == [{"name": "x", "objectSelector": selector}, {"name": "z"}]
    assert document["metadata"]["name"] == "a"
    with pytest.raises(AnsibleFilterError, match="does not exist"):
        json_patch(document, [{"op": "replace", "path": "/spec/none", "value": 1}])


def test_local_webhooks_call_this_host() -> None:
    document = {"metadata": {"name": "validator"}, "webhooks": [
        {"name": "v", "clientConfig": {"service": {"name": "s", "namespace": "n", "path": "/validate"}}}]}
    local = local_webhooks(document, 9443, "Q0E=", "trainer-")
    assert local["metadata"]["name"] == "trainer-validator"
    expected = {"url": "https://127.0.0.1:9443/validate", "caBundle": "Q0E="}
    assert local["webhooks"][0]["clientConfig"] == expected
