"""Schemathesis against the OpenAPI schema each application serves (issue 12, "Proof").

For every application with a schema (jewelry, listing, jobs; the root app publishes none),
the live ``/openapi.json`` is fetched over HTTP, so what is tested is what is served, and
every operation gets bounded, seeded cases (positive and negative data) sent with a valid
key of a tenant of its own (generous limits: the fuzzing spends none of the ``tests``
tenant's buckets and trips no rate limit). Each answer must:

* not be a server error. A 500 fails, whatever its body. A 503 or 504 passes only when the
  operation documents it, its body is the JSON ``ErrorBody`` and its code is the service
  working as designed: ``overloaded`` (with its ``Retry-After``) and ``deadline_exceeded``
  under load, ``weights_missing``/``weights_invalid`` on a route whose learned backend has
  no weights (``/listing/stage`` here: retrying will not help, so no ``Retry-After``).
  ``backend_unavailable`` is not excused: on the healthy session cluster, with nothing
  killed, it means something broke (the gate's database, a lost replica).
* have a documented status and media type, a body matching the declared schema and headers
  matching theirs (schemathesis's conformance checks); negative data must get a 4xx.

Then every operation is called without a key, with a malformed bearer and with an unknown
``X-API-Key``: 401 ``unauthorized`` JSON with ``WWW-Authenticate``, but for the open ones.
The checks are shown to fail on a broken service: a tiny in-process app with a 500, a body
off its declared model and an undocumented status must each be reported.

The photo routes get a few more cases whose image is a real photo, so the graphs run and
the success bodies (images, ``report=json``, a bundle) are checked too; the job routes are
fuzzed again on a real job, and at the edges of an item index.

Bounded: ``POSITIVE`` + ``NEGATIVE`` examples per operation, no shrinking, derandomized (the
same cases in every run), Hypothesis's caches in a temporary folder (nothing is written into
the repository). Jobs that a fuzzed submit manages to create are cancelled at the end.
"""
from __future__ import annotations

import collections
import copy
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lumograph.access.keys import KeyStore
from lumograph.jobs.db import open_db, sqlite_url
from lumograph.serve.schemas import ErrorBody

pytestmark = pytest.mark.serve

#: Application -> its route prefix (configs/local.yaml). The root app (``/``) serves no schema.
APPS = {"jewelry": "/jewelry", "listing": "/listing", "jobs": "/v1"}
#: Operations open without a key (the schema operations among serve/access.py's OPEN_PATHS).
OPEN_OPERATIONS = {"/healthz"}
#: Examples per operation and generation mode (15 operations: ~450 cases, ~20 s here).
POSITIVE = 25
NEGATIVE = 10
#: The 5xx answers that are the service working as designed, and only with their JSON body.
TOLERATED_5XX = {503: {"overloaded", "weights_missing", "weights_invalid"}, 504: {"deadline_exceeded"}}
#: The tenant the fuzzing runs as, and its limits (no 429 from our own pace, any number of jobs).
FUZZ_TENANT = "schemathesis"
FUZZ_LIMITS = {"requests_per_s": 10_000, "requests_burst": 100_000, "images_per_min": 1_000_000,
               "images_burst": 1_000_000, "max_active_jobs": 10_000}
#: Schemathesis's checks of an answer (its ``not_a_server_error`` is ``server_error`` here).
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
REQUEST_TIMEOUT_S = 60


def hypothesis_settings(max_examples: int) -> settings:
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                    print_blob=False)


@dataclass
class Tally:
    """What a fuzz run sent and saw."""

    operations: int = 0
    cases: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    #: (operation, kind of failure) -> its first example, with a curl line to reproduce it
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def fail(self, operation: str, kind: str, example: str) -> None:
        self.failures.setdefault((operation, kind), example)

    def report(self) -> str:
        lines = [f"{self.operations} operations, {self.cases} cases, statuses {dict(sorted(self.statuses.items()))}"]
        lines += [f"FAIL {op}: {kind}\n{example}" for (op, kind), example in self.failures.items()]
        return "\n".join(lines)


def _json(response) -> Any:
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


def _is_error_body(body: Any) -> bool:
    try:
        ErrorBody.model_validate(body)
    except Exception:  # noqa: BLE001 - any shape that is not ErrorBody
        return False
    return isinstance(body, dict)


def _header(response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def server_error(operation, response) -> str | None:
    """Why this answer is a server error, or None (a tolerated 503/504 is not one)."""
    status = response.status_code
    if status < 500:
        return None
    body = _json(response)
    code = body.get("code") if isinstance(body, dict) else None
    if code not in TOLERATED_5XX.get(status, ()):
        return f"server error {status} (code {code!r})"
    if str(status) not in operation.definition.raw.get("responses", {}):
        return f"{status} {code} is not documented by the operation"
    if not _is_error_body(body):
        return f"{status} {code} without the JSON ErrorBody"
    if code == "overloaded" and _header(response, "retry-after") is None:
        return f"503 {code} without Retry-After"
    return None


def _without_null(schema: dict) -> dict:
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) != 1 or len(schema["anyOf"]) != 2:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**branches[0], **rest}


def sendable(spec: dict) -> dict:
    """``spec`` with its multipart bodies spelled so that the generated requests are the ones
    the routes describe, so the cases reach past the form parser into the options and the
    decoder instead of all stopping at one 422:

    * an optional field is ``anyOf: [X, {type: null}]``: schemathesis sends the text ``null``
      (a form has no null) and, for ``image``, text parts instead of file parts (it knows a
      file only outside ``anyOf``); the null branch goes;
    * an option form (a body over a form twin of ``contract.py``) is flattened and closed
      (``additionalProperties: false``: the option models forbid unknown fields, which the
      twins, ignoring them, do not declare; negative cases then try unknown fields), and its
      ``image`` part is required, one or more (the route answers 422 ``missing_image``
      without one; the raw-body alternative is not in the schema).

    Only the request side changes: every answer is still checked against the schema as served."""
    spec = copy.deepcopy(spec)
    components = spec.get("components", {}).get("schemas", {})
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            body = (operation.get("requestBody") or {}).get("content", {}).get("multipart/form-data", {})
            ref = body.get("schema", {}).get("$ref", "")
            if not ref:
                continue
            form = components[ref.rsplit("/", 1)[1]]
            properties = dict(form.get("properties", {}))
            twins = [components[part["$ref"].rsplit("/", 1)[1]] for part in form.get("allOf", []) if "$ref" in part]
            for twin in twins:
                properties.update(twin.get("properties", {}))
            form["properties"] = {name: _without_null(schema) for name, schema in properties.items()}
            if twins:
                form.pop("allOf")
                form["additionalProperties"] = False
                if "image" in properties:
                    form["required"] = sorted({*form.get("required", []), "image"})
                    form["properties"]["image"]["minItems"] = 1
    return spec


def _example(case, response, why: str) -> str:
    ctype = _header(response, "content-type") or ""
    body = response.content[:300].decode("utf-8", "replace") if ctype.startswith(("application/json", "text/")) \
        else f"<{len(response.content)} bytes of {ctype or 'no content type'}>"
    return f"  {why}\n  {case.as_curl_command()}\n  -> {response.status_code} {body}"


def fuzz_operation(operation, send: Callable, tally: Tally, *, positive: int = POSITIVE, negative: int = NEGATIVE,
                   path_parameters: dict | None = None, on_response: Callable | None = None,
                   new_operation: bool = True, prepare: Callable | None = None) -> None:
    """``positive`` + ``negative`` cases of ``operation`` through ``send(case)``; every answer
    checked, failures collected into ``tally`` rather than raised (no shrinking: bounded).
    ``prepare(case)``: edits a generated case before it is sent."""
    tally.operations += new_operation
    for mode, count in ((GenerationMode.POSITIVE, positive), (GenerationMode.NEGATIVE, negative)):
        if not count:
            continue
        try:
            _fuzz_mode(operation, mode, count, send, tally, path_parameters, on_response, prepare)
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            # Nothing to negate: an operation without parameters or body (GET /healthz).


def _fuzz_mode(operation, mode: GenerationMode, count: int, send: Callable, tally: Tally, path_parameters,
               on_response: Callable | None, prepare: Callable | None) -> None:
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

    @hypothesis_settings(count)
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case) -> None:
        if prepare is not None:
            prepare(case)
        tally.cases += 1
        try:
            response = send(case)
        except requests.RequestException as exc:
            tally.fail(operation.label, f"no answer: {type(exc).__name__}", f"  {case.as_curl_command()}\n  {exc}")
            return
        tally.statuses[response.status_code] += 1
        if on_response is not None:
            on_response(case, response)
        why = server_error(operation, response)
        if why is not None:
            tally.fail(operation.label, why.split(" (")[0], _example(case, response, why))
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            for failure in group.exceptions:
                kind = f"{type(failure).__name__} {response.status_code} ({mode.value})"
                tally.fail(operation.label, kind, _example(case, response, f"{failure.title}: {failure.message}"))

    run()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def hypothesis_home():
    """Hypothesis keeps its caches (constants, unicode tables) here, not in ./.hypothesis."""
    home = tempfile.mkdtemp(prefix="lg-hypothesis-", dir="/tmp")
    set_hypothesis_home_dir(home)
    yield
    set_hypothesis_home_dir(None)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def fuzz_session(serve_url):
    from tests.serve.conftest import JOBS_DATA

    store = KeyStore(open_db(sqlite_url(JOBS_DATA)))
    token = store.create_key(FUZZ_TENANT, "schemathesis").token
    store.set_limits(FUZZ_TENANT, FUZZ_LIMITS)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    yield session
    session.close()


@pytest.fixture(scope="module")
def made_jobs(serve_url, fuzz_session):
    """Ids of the jobs the fuzzing created; whatever of them has not started is cancelled at
    the end, so no fuzzed batch keeps the cluster's job workers busy for the tests after."""
    made: list[str] = []
    yield made
    for job_id in dict.fromkeys(made):
        fuzz_session.delete(f"{serve_url}/v1/jobs/{job_id}", timeout=REQUEST_TIMEOUT_S)
    deadline = time.monotonic() + 120  # an item already running finishes (seconds: small photos)
    for job_id in dict.fromkeys(made):
        while time.monotonic() < deadline:
            state = _json(fuzz_session.get(f"{serve_url}/v1/jobs/{job_id}", params={"items": "false"},
                                           timeout=REQUEST_TIMEOUT_S))
            if not isinstance(state, dict) or state.get("state") in ("done", "failed", "cancelled"):
                break
            time.sleep(0.5)


@pytest.fixture(scope="module")
def schemas(serve_url):
    """Each application's schema as served (fetched without a key: an open path)."""
    loaded = {}
    for app, prefix in APPS.items():
        answer = requests.get(f"{serve_url}{prefix}/openapi.json", timeout=REQUEST_TIMEOUT_S)
        assert answer.status_code == 200, (app, answer.status_code, answer.text[:300])
        loaded[app] = schemathesis.openapi.from_dict(sendable(answer.json()), config=schemathesis.Config())
    return loaded


def _operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]  # a schema error fails here, named


def _sender(base_url: str, session: requests.Session) -> Callable:
    def send(case):
        return case.call(base_url=base_url, session=session, timeout=REQUEST_TIMEOUT_S)
    return send


def _job_recorder(made: list[str]) -> Callable:
    def record(case, response) -> None:
        if case.method.upper() == "POST" and case.path == "/jobs" and response.status_code in (200, 202):
            body = _json(response)
            if isinstance(body, dict) and body.get("id"):
                made.append(body["id"])
    return record


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("app", list(APPS))
def test_every_operation_answers_as_its_schema_says(serve_url, schemas, fuzz_session, made_jobs, app):
    t0 = time.perf_counter()
    tally = Tally()
    send = _sender(serve_url + APPS[app], fuzz_session)
    for operation in _operations(schemas[app]):
        fuzz_operation(operation, send, tally, on_response=_job_recorder(made_jobs))
    print(f"\n{app}: {tally.report()}  ({time.perf_counter() - t0:.1f} s)")
    assert tally.cases >= tally.operations > 0
    assert not tally.failures, f"{app}:\n{tally.report()}"


@pytest.fixture(scope="module")
def real_job(serve_url, fuzz_session, made_jobs):
    """One small job of the fuzz tenant, so the job routes are fuzzed past "no such job"."""
    from tests.jobs.conftest import jpeg

    answer = fuzz_session.post(f"{serve_url}/v1/jobs", files=[("image", ("a.jpg", jpeg(5, 480, 360), "image/jpeg"))],
                               data={"vertical": "jewelry"}, timeout=REQUEST_TIMEOUT_S)
    assert answer.status_code == 202, answer.text
    made_jobs.append(answer.json()["id"])
    return answer.json()["id"]


def test_job_routes_on_a_real_job_answer_as_their_schema_says(serve_url, schemas, fuzz_session, made_jobs, real_job):
    """The job id fixed to a real job, everything else fuzzed (an item index of -1 or 10**20
    must be a 4xx, never a 500); the cancel route runs last, so the reads see a live job."""
    tally = Tally()
    send = _sender(serve_url + APPS["jobs"], fuzz_session)
    operations = [op for op in _operations(schemas["jobs"]) if "{job_id}" in op.path]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in operations:
        fuzz_operation(operation, send, tally, negative=3, path_parameters={"job_id": real_job},
                       on_response=_job_recorder(made_jobs))
        if "{n}" in operation.path:  # the edges of an item index, whatever the seed draws
            for n in (-1, 0, 2**31, 2**63, 10**20):
                fuzz_operation(operation, send, tally, positive=1, negative=0,
                               path_parameters={"job_id": real_job, "n": n}, new_operation=False)
    print(f"\njobs on a real job: {tally.report()}")
    assert tally.statuses.get(200, 0) > 0, tally.report()  # the reads did reach the job
    assert not tally.failures, tally.report()


#: Photo routes -> the photo the graph-deep pass sends, and its cases (each runs the whole graph).
PHOTO_ROUTES = {("jewelry", "/lightbox"): "ring", ("listing", "/enhance"): "room", ("listing", "/bundle"): "room",
                ("listing", "/stage"): "room"}
PHOTO_EXAMPLES = 3
#: Canvas sides the deep pass keeps to: a 10 000 px canvas takes minutes on a 2-core runner (the
#: full range is fuzzed with undecodable bytes, which are refused before any canvas is made).
MAX_DEEP_SIDE = 2000


@pytest.fixture(scope="module")
def photos():
    from lumograph.bench.synthetic import ring_photo
    from lumograph.bench.synthetic_listing import room_photo
    from tests import bad_inputs as bad

    return {"ring": bad.jpeg_bytes(ring_photo(1200, 900).rgb), "room": bad.jpeg_bytes(room_photo(960, 720, seed=3).rgb)}


def test_photo_routes_with_a_real_photo_answer_as_their_schema_says(serve_url, schemas, fuzz_session, photos):
    """Options fuzzed, the image one real photo, so the graph runs and the success bodies (the
    image media types, ``report=json``'s report, a bundle's photos) and the QA gate's 422 are
    checked against the schema too; without weights ``/listing/stage`` answers its documented
    503 ``weights_missing``."""
    t0 = time.perf_counter()
    tally = Tally()
    for (app, path), photo in PHOTO_ROUTES.items():
        operation = next(op for op in _operations(schemas[app]) if op.path == path)

        def with_photo(case, photo=photo):
            if not isinstance(case.body, dict):  # an optional body the case left out
                case.body, case.media_type = {}, "multipart/form-data"
            case.body["image"] = [photos[photo]]
            for side in ("size", "max_long_side"):
                if isinstance(case.body.get(side), int) and case.body[side] > MAX_DEEP_SIDE:
                    del case.body[side]

        fuzz_operation(operation, _sender(serve_url + APPS[app], fuzz_session), tally, positive=PHOTO_EXAMPLES,
                       negative=0, prepare=with_photo)
    print(f"\nwith a real photo: {tally.report()}  ({time.perf_counter() - t0:.1f} s)")
    assert tally.statuses.get(200, 0) >= 2, tally.report()  # the graphs did run to an answer
    assert not tally.failures, tally.report()


def _call_without_a_key(operation, base_url: str, seen: collections.Counter, problems: list[str]) -> None:
    @hypothesis_settings(1)
    @given(case=operation.as_strategy())
    def once(case) -> None:
        for headers in ({}, {"Authorization": "Bearer lg_000000000000_" + "x" * 43}, {"X-API-Key": "nope"}):
            response = case.call(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S)
            seen[response.status_code] += 1
            body = _json(response)
            if operation.path in OPEN_OPERATIONS:
                ok = response.status_code == 200
            else:
                ok = (response.status_code == 401 and _is_error_body(body) and body["code"] == "unauthorized"
                      and (_header(response, "www-authenticate") or "").startswith("Bearer"))
            if not ok:
                problems.append(f"{base_url} {operation.label} {sorted(headers)}: {response.status_code} "
                                f"{response.content[:200]!r}")

    once()


def test_every_operation_without_a_valid_key_is_401_json(serve_url, schemas):
    """One case per operation, sent with no key, a malformed bearer and an unknown X-API-Key:
    401 ``unauthorized`` JSON with ``WWW-Authenticate`` everywhere but the open operations."""
    seen = collections.Counter()
    problems: list[str] = []
    for app, schema in schemas.items():
        for operation in _operations(schema):
            _call_without_a_key(operation, serve_url + APPS[app], seen, problems)
    print(f"\nwithout a valid key: statuses {dict(seen)}")
    assert seen[401] and not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the checks' own proof


def _broken_app():
    """A tiny service with three planted bugs, each of which the checks must report."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, PlainTextResponse
    from pydantic import BaseModel

    class Count(BaseModel):
        count: int

    app = FastAPI()
    error = {422: {"model": ErrorBody}}

    @app.get("/divide", response_model=Count, responses=error)
    def divide(x: int):
        if x <= 0:  # an unhandled error (half of all inputs: found in every run)
            return PlainTextResponse("Internal Server Error", status_code=500)
        return {"count": 100 // x}

    @app.get("/count", response_model=Count, responses=error)
    def count(n: int = 0):
        return JSONResponse({"count": "many"})  # off its declared model

    @app.get("/teapot", response_model=Count, responses=error)
    def teapot(n: int = 0):
        return JSONResponse({"code": "teapot", "message": "no", "request_id": "r", "details": {}},
                            status_code=418)  # an undocumented status

    @app.get("/fine", response_model=Count, responses=error)
    def fine(n: int = 0):
        return {"count": 1}

    return app


def test_the_checks_fail_on_a_broken_service():
    schema = schemathesis.openapi.from_asgi("/openapi.json", _broken_app(), config=schemathesis.Config())
    kinds = {}
    for operation in _operations(schema):
        tally = Tally()
        fuzz_operation(operation, lambda case: case.call(), tally, positive=10, negative=0)
        kinds[operation.path] = {kind for _, kind in tally.failures}
    assert any(k.startswith("server error 500") for k in kinds["/divide"]), kinds
    assert any(k.startswith("JsonSchemaError 200") for k in kinds["/count"]), kinds
    assert any(k.startswith("UndefinedStatusCode 418") for k in kinds["/teapot"]), kinds
    assert not kinds["/fine"], kinds
