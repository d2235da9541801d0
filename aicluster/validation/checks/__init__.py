"""One check per requirement id. Each module registers its checks with `requirement`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from aicluster.validation.cluster import CheckContext
from aicluster.validation.results import Outcome

CheckFunction = Callable[[CheckContext], Outcome]


@dataclass(frozen=True)
class Check:
    requirement_id: str
    test_name: str  # the upstream automated test's name where one exists, so the CNCF validator finds it
    run: CheckFunction
    default_timeout: float  # seconds, before --timeout-scale


CHECKS: dict[str, Check] = {}


def requirement(
    requirement_id: str, test_name: str, timeout: float = 120
) -> Callable[[CheckFunction], CheckFunction]:
    def register(function: CheckFunction) -> CheckFunction:
        CHECKS[requirement_id] = Check(requirement_id, test_name, function, timeout)
        return function

    return register


def all_checks() -> dict[str, Check]:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return CHECKS
