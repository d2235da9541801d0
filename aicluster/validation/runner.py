"""Runs the checks of a profile against a cluster and turns what happened into results."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import urllib3
from kubernetes.client.exceptions import ApiException

from aicluster.errors import ClusterUnreachableError
from aicluster.profiles import Profile, Requirement
from aicluster.validation.checks import Check, all_checks
from aicluster.validation.cluster import (
    CheckContext,
    Cluster,
    ValidationOptions,
    delete_run_leftovers,
)
from aicluster.validation.results import CheckResult, Outcome, Source, Status, now


def select(profile: Profile, only: list[str] | None) -> list[Requirement]:
    """The profile's requirements, or those named by --only (each must be in the profile)."""
    if not only:
        return list(profile.requirements)
    known = {r.id: r for r in profile.requirements}
    unknown = [requirement_id for requirement_id in only if requirement_id not in known]
    if unknown:
        raise ValueError(
            f"--only names {', '.join(unknown)}, not in profile {profile.version} (ids: {', '.join(known)})"
        )
    return [known[requirement_id] for requirement_id in only]


def run_check(
    cluster: Cluster, requirement: Requirement, check: Check, options: ValidationOptions, run_id: str
) -> CheckResult:
    ctx = CheckContext(cluster, options, run_id, requirement.id)
    started, clock = now(), time.monotonic()
    try:
        outcome = check.run(ctx)
    except Outcome as raised:
        outcome = raised
    except ApiException as error:
        if error.status in (0, None):
            raise ClusterUnreachableError(
                f"lost the API server during {requirement.id}: {error.reason}"
            ) from error
        outcome = Outcome(
            Status.FAIL,
            f"API error {error.status} {error.reason}: "
            f"{(error.body or '')[:300] if isinstance(error.body, str) else ''}",
        )
    except (urllib3.exceptions.HTTPError, ConnectionError) as error:
        raise ClusterUnreachableError(f"lost the API server during {requirement.id}: {error}") from error
    finally:
        ctx.run_cleanups()
    status = outcome.status
    if status is Status.NOT_APPLICABLE and not requirement.na_allowed and requirement.level == "MUST":
        # The submission rules allow N/A on this MUST nowhere: report it as failed, with the reason.
        status = Status.FAIL
    source = ctx.source if status is not Status.NOT_APPLICABLE else Source.NONE
    return CheckResult(
        requirement.id,
        check.test_name,
        requirement.level,
        status,
        outcome.reason,
        source,
        ctx.implementation,
        started,
        time.monotonic() - clock,
        ctx.subtests,
        ctx.evidence,
    )


def run_validation(
    cluster: Cluster,
    requirements: list[Requirement],
    options: ValidationOptions,
    run_id: str,
    progress: Callable[[CheckResult], None],
) -> list[CheckResult]:
    checks = all_checks()
    missing = [r.id for r in requirements if r.id not in checks]
    if missing:
        raise ValueError(f"no check implements {', '.join(missing)}")
    results = []
    try:
        for requirement in requirements:
            result = run_check(cluster, requirement, checks[requirement.id], options, run_id)
            progress(result)
            results.append(result)
    finally:
        # Also after Ctrl-C or a lost API server: leave nothing of this run behind.
        with contextlib.suppress(ApiException, urllib3.exceptions.HTTPError, ConnectionError):
            delete_run_leftovers(cluster, run_id)
    return results


def exit_code(results: list[CheckResult]) -> int:
    """0 when no MUST failed, 1 when one did."""
    return 1 if any(r.level == "MUST" and r.status is Status.FAIL for r in results) else 0
