"""Latency-aware shedding: a request is refused at once when it could not start within the
bound, with a Retry-After that says when; the service time is learnt only from requests that
did not wait."""
import pytest

from lumograph.serve.shedding import Overloaded, Shedder


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_requests_beyond_the_wait_bound_are_shed_with_retry_after():
    shedder = Shedder(parallel=2, max_wait_s=3.0, initial_service_s=2.0, clock=Clock())
    entered = [shedder.enter() for _ in range(4)]  # 2 running, 2 waiting
    assert shedder.expected_wait_s() == pytest.approx(3.0)  # the 5th waits 3 slots of 2 s / 2
    entered.append(shedder.enter())
    with pytest.raises(Overloaded) as info:
        shedder.enter()
    assert info.value.details["retry_after_s"] >= 1 and info.value.details["expected_wait_s"] == pytest.approx(4.0)
    assert shedder.shed == 1 and shedder.in_flight == 5
    for started, free in entered:
        shedder.leave(started, free, ok=True)
    assert shedder.in_flight == 0 and shedder.enter()


def test_the_service_time_is_learnt_from_requests_that_did_not_wait():
    clock = Clock()
    shedder = Shedder(parallel=1, max_wait_s=100, initial_service_s=10.0, clock=clock)
    first = shedder.enter()
    waiting = shedder.enter()  # started behind the first: its time includes the queue
    clock.t = 1.0
    shedder.leave(*first, ok=True)
    clock.t = 5.0
    shedder.leave(*waiting, ok=True)
    assert shedder.service_s == pytest.approx(1.0) and shedder.measured == 1
    failed = shedder.enter()
    clock.t = 5.01
    shedder.leave(*failed, ok=False)  # a fast failure says nothing about the service time
    assert shedder.service_s == pytest.approx(1.0)
