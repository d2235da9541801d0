"""Conformance profiles: the requirement x version matrix of the CNCF checklists."""

from __future__ import annotations

import pytest

from aicluster.profiles import load_profile, profile_versions

# (requirements, MUSTs) per checklist version.
COUNTS = {"1.33": (9, 8), "1.34": (9, 9), "1.35": (12, 9), "1.36": (14, 8), "1.37": (15, 8)}


def test_every_checklist_version_has_a_profile() -> None:
    assert profile_versions() == list(COUNTS)


@pytest.mark.parametrize(("version", "counts"), COUNTS.items())
def test_requirement_and_must_counts(version: str, counts: tuple[int, int]) -> None:
    profile = load_profile(version)
    assert (len(profile.requirements), len(profile.must_ids)) == counts
    assert len({r.id for r in profile.requirements}) == len(profile.requirements)


def test_newest_profile_details() -> None:
    profile = load_profile("1.37")
    by_id = {r.id: r for r in profile.requirements}
    assert "dra_support" not in by_id
    assert by_id["workload_sandboxing"].level == "SHOULD"
    assert by_id["cluster_autoscaling"].na_allowed is True
    assert by_id["pod_autoscaling"].na_allowed is False
    assert by_id["gang_scheduling"].upstream_test == "TestGangScheduling"
    assert {r.category for r in profile.requirements} == {
        "accelerators", "networking", "schedulingOrchestration", "observability", "security",
        "operator"}


def test_unknown_profile() -> None:
    with pytest.raises(KeyError, match=r"no conformance profile '0\.1'"):
        load_profile("0.1")
