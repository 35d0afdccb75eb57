"""Latency-aware load shedding and request deadlines for one ingress replica.

A request that could not *start* within ``max_wait_s`` is refused at once with 503
``overloaded`` and ``Retry-After`` (by the access middleware, before its body is read),
instead of waiting in a queue for half a minute and timing out anyway. The replica knows how many of its requests are in flight and how long one
takes when it does not wait (an exponentially weighted mean over requests that started with
a free slot); with ``parallel`` requests served at once, a new request's expected wait is
``(in_flight - parallel + 1) / parallel * service_s``. ``parallel`` is what the modules serve
side by side without queueing (``lumograph bench load`` measures the capacity it follows
from); the first estimate is ``initial_service_s`` until requests have been measured.

A request that runs past ``deadline_s`` is cancelled (its module calls with it) and answered
504 ``deadline_exceeded`` with its request id, before Serve's proxy would answer its own
plain-text timeout.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

from lumograph.models.common.errors import LumographError


class Overloaded(LumographError):
    """The replica cannot start the request within its wait bound (503, Retry-After)."""

    code = "overloaded"


class DeadlineExceeded(LumographError):
    """The request ran past its deadline and was cancelled (504)."""

    code = "deadline_exceeded"


@dataclass
class Shedder:
    parallel: int = 2
    max_wait_s: float = 10.0
    initial_service_s: float = 2.0
    smoothing: float = 0.2
    clock: Callable[[], float] = time.monotonic
    in_flight: int = 0
    service_s: float = field(default=0.0)
    measured: int = 0
    shed: int = 0

    def __post_init__(self) -> None:
        self.service_s = self.service_s or float(self.initial_service_s)

    def expected_wait_s(self) -> float:
        waiting = self.in_flight - self.parallel + 1
        return 0.0 if waiting <= 0 else waiting * self.service_s / self.parallel

    def check(self) -> None:
        """Raise ``Overloaded`` when a new request would wait past ``max_wait_s``; takes no
        slot (the door's check, before the body is read)."""
        wait = self.expected_wait_s()
        if wait > self.max_wait_s:
            self.shed += 1
            retry = max(1, math.ceil(wait - self.max_wait_s))
            raise Overloaded(
                f"the service is at capacity: a new request would wait about {wait:.0f} s to start "
                f"(the bound is {self.max_wait_s:g} s)",
                details={"expected_wait_s": round(wait, 2), "max_wait_s": self.max_wait_s,
                         "in_flight": self.in_flight, "retry_after_s": retry})

    def enter(self, *, check: bool = True) -> tuple[float, bool]:
        """Admit one request (``check`` first, unless already done at the door) and take a
        slot. Returns (start time, whether it started with a free slot): hand both to
        ``leave``."""
        if check:
            self.check()
        free = self.in_flight < self.parallel
        self.in_flight += 1
        return self.clock(), free

    def leave(self, started: float, free: bool, ok: bool) -> None:
        """One request ended; a successful one that did not wait updates the service time."""
        self.in_flight = max(0, self.in_flight - 1)
        if ok and free:
            seconds = self.clock() - started
            self.service_s = seconds if self.measured == 0 else (
                (1 - self.smoothing) * self.service_s + self.smoothing * seconds)
            self.measured += 1

    def state(self) -> dict:
        return {"in_flight": self.in_flight, "parallel": self.parallel, "service_s": round(self.service_s, 3),
                "expected_wait_s": round(self.expected_wait_s(), 3), "max_wait_s": self.max_wait_s,
                "shed": self.shed}
