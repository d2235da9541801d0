"""Jinja filters for Kubernetes resource quantities."""

from __future__ import annotations

import re
from decimal import Decimal

from ansible.errors import AnsibleFilterError

_SUFFIXES = {
    "": Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")


def quantity_times(quantity: object, factor: object) -> str:
    """Multiplies a quantity such as "64Gi" or "192" by a number, keeping its suffix."""
    match = _QUANTITY.match(str(quantity).strip())
    if match is None:
        raise AnsibleFilterError(f"quantity_times: {quantity!r} is not a Kubernetes quantity")
    value = Decimal(match[1]) * Decimal(str(factor))
    suffix = match[2] or ""
    if value == value.to_integral_value():
        return f"{int(value)}{suffix}"
    # Fall back to a plain number in base units when the product is fractional.
    return f"{(value * _SUFFIXES[suffix]).to_integral_value()}"


class FilterModule:
    def filters(self) -> dict:
        return {"quantity_times": quantity_times}
