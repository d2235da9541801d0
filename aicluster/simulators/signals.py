"""How a simulator process ends: at once on SIGTERM or SIGINT, even inside a blocking call."""

from __future__ import annotations

import logging
import signal
from types import FrameType


def exit_on_stop_signals(log: logging.Logger) -> None:
    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d; stopping", signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
