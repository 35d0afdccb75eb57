"""A module call whose replica dies mid-call runs once more (module methods are pure); a
second loss, or any other error, propagates unchanged."""
import asyncio

import pytest
from ray.exceptions import ActorDiedError

from lumograph.deployments.directory import retry_on_replica_loss


def fake_remote(failures: list):
    calls = []

    async def remote(*args, **kwargs):
        calls.append((args, kwargs))
        if failures:
            raise failures.pop(0)
        return ("ok", args, kwargs)
    return remote, calls


def test_one_replica_loss_is_retried_with_the_same_arguments():
    remote, calls = fake_remote([ActorDiedError()])
    assert asyncio.run(retry_on_replica_loss(remote)(1, x=2)) == ("ok", (1,), {"x": 2})
    assert calls == [((1,), {"x": 2})] * 2


def test_a_second_loss_and_other_errors_propagate():
    remote, calls = fake_remote([ActorDiedError(), ActorDiedError()])
    with pytest.raises(ActorDiedError):
        asyncio.run(retry_on_replica_loss(remote)())
    assert len(calls) == 2
    remote, calls = fake_remote([ValueError("bad input")])
    with pytest.raises(ValueError):
        asyncio.run(retry_on_replica_loss(remote)())
    assert len(calls) == 1
