"""The identity of a simulated GPU (UUID, PCI bus ID), the same in every simulated NVIDIA component."""

from __future__ import annotations

import uuid

UUID_NAMESPACE = uuid.UUID("6f1d4d3e-2a4b-4c1e-9a57-3c7b8a0d9e21")


def gpu_uuid(node: str, index: int) -> str:
    return f"GPU-{uuid.uuid5(UUID_NAMESPACE, f'{node}/{index}')}"


def mig_uuid(node: str, index: int, placement_start: int) -> str:
    return f"MIG-{uuid.uuid5(UUID_NAMESPACE, f'{node}/{index}/mig/{placement_start}')}"


def gpu_pci_bus_id(index: int) -> str:
    return f"0000:{0x18 + 0x10 * index:02x}:00.0"
