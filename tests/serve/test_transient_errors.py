"""A failure of the serving machinery (a replica that died mid-call, a full module queue) is a
503 the client may retry, with Retry-After; never a 500 internal_error."""
import json

from ray.exceptions import ActorDiedError, ActorUnavailableError
from ray.serve.exceptions import BackPressureError

from lumograph.serve.errors import error_body, error_response


def test_replica_death_and_backpressure_are_retryable_503s():
    for exc in (ActorDiedError(), ActorUnavailableError("gone", None),
                BackPressureError(num_queued_requests=3, max_queued_requests=2)):
        body = error_body(exc, "rid-1")
        assert body["status"] == 503 and body["code"] == "backend_unavailable", (exc, body)
        assert body["details"]["retry_after_s"] >= 1 and body["request_id"] == "rid-1"
        response = error_response(exc, "rid-1")
        assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
        assert json.loads(response.body)["code"] == "backend_unavailable"


def test_a_bug_is_still_a_500_without_a_trace():
    body = error_body(ValueError("secret internals"), "rid-2")
    assert body["status"] == 500 and body["code"] == "internal_error" and "secret" not in json.dumps(body)
