"""The simulated DCGM exporter's output, judged by the same parser the accelerator metrics check uses."""

from __future__ import annotations

import re

from aicluster.paths import REPO_ROOT
from aicluster.simulators.dcgm_exporter import FIELDS, Gpu, render
from aicluster.simulators.gpu_identity import gpu_uuid
from aicluster.validation import metrics_text


def test_every_gpu_has_the_dcgm_fields_with_device_and_pod_labels() -> None:
    gpus = [
        Gpu("node-a", 0, "NVIDIA L4", 23034, "580.126.20", ("team-a", "trainer-0", "main"), 90.0),
        Gpu("node-a", 1, "NVIDIA L4", 23034, "580.126.20"),
    ]
    exposition = metrics_text.parse(render(gpus, uptime=10.0))
    assert exposition.errors == []
    assert exposition.devices() == {gpu_uuid("node-a", 0), gpu_uuid("node-a", 1)}
    kinds = exposition.kinds()
    for kind in ("utilization", "memory", "temperature", "power", "interconnect"):
        assert kinds[kind], kind
    assert exposition.families["DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL"] == "counter"
    utilization = {
        labels["gpu"]: (value, labels.get("pod"))
        for name, labels, value in exposition.samples
        if name == "DCGM_FI_DEV_GPU_UTIL"
    }
    assert utilization == {"0": (90.0, "trainer-0"), "1": (0.0, None)}
    used = {
        labels["gpu"]: value for name, labels, value in exposition.samples if name == "DCGM_FI_DEV_FB_USED"
    }
    free = {
        labels["gpu"]: value for name, labels, value in exposition.samples if name == "DCGM_FI_DEV_FB_FREE"
    }
    assert used["1"] == 0 and 0 < used["0"] < 23034 and used["0"] + free["0"] < 23034


def test_the_parser_reports_what_is_not_a_sample() -> None:
    exposition = metrics_text.parse('# TYPE x gauge\nx{gpu="0"} 1\nthis is not a sample\nx{gpu="1"} many\n')
    assert len(exposition.samples) == 1
    assert [error.split(":")[0] for error in exposition.errors] == ["line 3", "line 4"]


def test_the_simulator_serves_exactly_the_fields_real_exporters_collect() -> None:
    """roles/dcgm_exporter/files/counters.csv configures the real exporters; dashboards and rules read
    those fields, so the simulated exporter must serve the same set with the same types."""
    csv = (REPO_ROOT / "roles" / "dcgm_exporter" / "files" / "counters.csv").read_text()
    collected = [tuple(part.strip() for part in line.split(",", 2)) for line in csv.splitlines()
                 if line.strip() and not line.startswith("#")]
    assert collected == list(FIELDS)


def test_every_rule_and_panel_reads_fields_the_exporter_serves() -> None:
    served = {name for name, _, _ in FIELDS}
    dashboards = (REPO_ROOT / "roles" / "grafana_dashboards" / "files").glob("*.json")
    texts = [(REPO_ROOT / "roles" / "prometheus" / "files" / "rules.yml").read_text(),
             *(path.read_text() for path in dashboards)]
    used = {name for text in texts for name in re.findall(r"\bDCGM_FI_[A-Z0-9_]+", text)}
    assert used and used <= served, sorted(used - served)
    assert {"DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_GPU_TEMP"} <= used
