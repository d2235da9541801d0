"""A parser of the Prometheus text exposition format, enough to judge an accelerator metrics endpoint."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)(?:\s+\d+)?$"
)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# Labels that name one accelerator, as the upstream accelerator metrics test accepts them.
DEVICE_LABELS = (
    "gpu",
    "UUID",
    "uuid",
    "device_id",
    "dev_id",
    "card_id",
    "GPU_I_ID",
    "minor_number",
    "pci_bus_id",
)
METRIC_KINDS = {
    "utilization": re.compile(r"util", re.IGNORECASE),
    "memory": re.compile(r"mem|memory|fb|vram|hbm", re.IGNORECASE),
    "temperature": re.compile(r"temp", re.IGNORECASE),
    "power": re.compile(r"power", re.IGNORECASE),
    "interconnect": re.compile(r"nvlink|pcie_tx|pcie_rx|xgmi", re.IGNORECASE),
}
REQUIRED_KINDS = ("utilization", "memory")


@dataclass
class Exposition:
    families: dict[str, str] = field(default_factory=dict)  # name -> TYPE
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def kinds(self) -> dict[str, list[str]]:
        """Metric kind -> names of per-device metrics of that kind."""
        per_device = sorted(
            {name for name, labels, _ in self.samples if any(k in labels for k in DEVICE_LABELS)}
        )
        return {kind: [n for n in per_device if pattern.search(n)] for kind, pattern in METRIC_KINDS.items()}

    def devices(self) -> set[str]:
        """One identity per accelerator: its UUID where exposed, else its host and index."""
        found = set()
        for _, labels, _ in self.samples:
            uuid = labels.get("UUID") or labels.get("uuid")
            if uuid:
                found.add(uuid)
                continue
            index = next((labels[key] for key in DEVICE_LABELS if key in labels), None)
            if index is not None:
                found.add(f"{labels.get('Hostname') or labels.get('hostname') or ''}/{index}")
        return found


def parse(text: str) -> Exposition:
    result = Exposition()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                result.families[parts[2]] = parts[3]
            continue
        match = SAMPLE.match(line)
        if not match:
            result.errors.append(f"line {number}: not a sample: {line[:80]}")
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            result.errors.append(f"line {number}: value {match.group('value')!r} is not a number")
            continue
        labels = dict(LABEL.findall(match.group("labels") or ""))
        result.samples.append((match.group("name"), labels, value))
    return result
