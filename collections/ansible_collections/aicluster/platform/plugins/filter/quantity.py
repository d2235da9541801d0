"""Jinja filters for Kubernetes resource quantities."""

from __future__ import annotations

import re
from decimal import Decimal

from ansible.errors import AnsibleFilterError

_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")


_BINARY = ("Ki", "Mi", "Gi", "Ti", "Pi")
_DECIMAL = ("k", "M", "G", "T", "P")


def canonical(value: Decimal, binary: bool) -> str:
    """The form the API server stores: the largest suffix that keeps the number whole."""
    if value != value.to_integral_value():
        return f"{int(value * 1000)}m" if value * 1000 == (value * 1000).to_integral_value() else str(value)
    number, chosen = int(value), ""
    base, suffixes = (1024, _BINARY) if binary else (1000, _DECIMAL)
    for suffix in suffixes:
        if number == 0 or number % base:
            break
        number //= base
        chosen = suffix
    return f"{number}{chosen}"


def quantity_times(quantity: object, factor: object) -> str:
    """Multiplies a quantity such as "64Gi" or "192" by a number. The result is in the
    canonical form the API server stores, so that re-applying it changes nothing."""
    match = _QUANTITY.match(str(quantity).strip())
    if match is None:
        raise AnsibleFilterError(f"quantity_times: {quantity!r} is not a Kubernetes quantity")
    suffix = match[2] or ""
    base_units = Decimal(match[1]) * _SUFFIXES[suffix] * Decimal(str(factor))
    return canonical(base_units, binary=suffix.endswith("i"))


class FilterModule:
    def filters(self) -> dict:
        return {"quantity_times": quantity_times}
