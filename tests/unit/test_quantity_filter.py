"""The quantity_times filter that the Kueue role uses for pool-wide quotas."""

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
