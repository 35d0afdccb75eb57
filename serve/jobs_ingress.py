"""HTTP ingress of asynchronous jobs (``/v1/jobs``), for both verticals.

Submits answer 202 at once; the job's items are run by workers inside this replica,
through the same module deployments as the synchronous routes. State is in the jobs
database, files in the jobs storage (``lumograph.jobs``); nothing is held only in memory,
so a restarted replica picks up where the last one stopped.
"""
# No `from __future__ import annotations` (see jewelry_ingress.py).
import asyncio
import logging
import os
import secrets
from pathlib import Path
from typing import Annotated, Optional

from fastapi import File, Header, Query, Request, UploadFile
from fastapi import Path as PathParam  # pathlib.Path is this module's Path
from fastapi.responses import FileResponse, JSONResponse, Response
from ray import serve
from starlette.background import BackgroundTask

from lumograph.access.gate import Gate
from lumograph.jobs import webhooks
from lumograph.jobs.actors import ActorPool, PoolRunner
from lumograph.jobs.archive import write_archive
from lumograph.jobs.bundle import UNDECIDED
from lumograph.jobs.runner import PhotoRunner
from lumograph.jobs.service import JobLimits, JobService, JobSettings, Upload
from lumograph.jobs.sheet import job_sheet
from lumograph.jobs.storage import Storage
from lumograph.models.common.errors import InvalidOptions, LumographError
from lumograph.serve.access import count_images, database_url_of, principal_of
from lumograph.serve.contract import error_responses
from lumograph.serve.jewelry_ingress import jewelry_steps
from lumograph.serve.listing_ingress import listing_steps
from lumograph.serve.metrics import IngressMetrics
from lumograph.serve.responses import answer, ingress_api
from lumograph.serve.schemas import BundleFields, EnhanceOptions, JobsAppArgs, LightboxOptions
from lumograph.serve.uploads import parse_options, report_wanted

logger = logging.getLogger("ray.serve")

#: Form fields of a submit that belong to the job, not to the vertical's options.
JOB_FIELDS = ("vertical", "callback_url", "callback_per_item", "source", "bundle", "smart_retry",
              "consistency", "reference")
OPTION_MODELS = {"jewelry": LightboxOptions, "listing": EnhanceOptions}


class ItemNotReady(LumographError):
    """The item has not finished yet (409); poll the job."""

    code = "item_not_ready"


class ItemNotDelivered(LumographError):
    """The item finished without an image (rejected by QA, or an error): 409, the report says why."""

    code = "item_not_delivered"


def webhook_secret(args: JobsAppArgs, data_dir: Path) -> bytes:
    """The signing secret: the named environment variable, else one kept (0600) in the
    data folder so it survives restarts."""
    given = os.environ.get(args.webhook_secret_env)
    if given:
        return given.encode()
    path = data_dir / "webhook_secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def job_settings(args: JobsAppArgs) -> JobSettings:
    data_dir = Path(args.data_dir).expanduser().resolve()
    # On a cluster the database URL (with its password) and the bucket come from the
    # pods' environment (a Kubernetes Secret), not from the Serve YAML.
    return JobSettings(
        database_url=database_url_of(args.model_copy(update={"data_dir": str(data_dir)})),
        storage_root=args.storage_root or os.environ.get("LUMOGRAPH_JOBS_STORAGE") or str(data_dir / "store"),
        webhook_secret=webhook_secret(args, data_dir),
        # With an actor pool, one worker more than actors: it claims and reads the next item
        # while the others are recorded, so no actor waits for the database between items.
        concurrency=args.concurrency + (1 if args.steps == "actors" else 0),
        lease_s=args.lease_s, input_roots=list(args.input_roots),
        allow_private_callbacks=args.allow_private_callbacks,
        allow_private_inputs=args.allow_private_inputs, fetch_timeout_s=args.fetch_timeout_s,
        limits=JobLimits(max_items=args.max_items, max_bytes=args.max_job_bytes,
                         max_file_bytes=args.max_upload_bytes, max_active_jobs=args.limits.max_active_jobs),
    )


def _flag(value) -> bool:
    if value in (None, "", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise InvalidOptions(f"expected true or false, got {value!r}")


def bundle_contexts(fields: dict, n_photos: int) -> dict:
    """A listing bundle's per-photo context (room, primary, dusk on the primary), the same
    fields and rules as ``/listing/bundle``."""
    bundle = parse_options(BundleFields, {k: fields.pop(k) for k in list(fields) if k in BundleFields.model_fields})
    rooms = bundle.room_list(n_photos)
    if bundle.primary is not None and bundle.primary >= n_photos:
        raise InvalidOptions(f"primary must index one of the {n_photos} photos, got {bundle.primary}")
    # The primary and dusk on it follow from the job's bundle when an item runs; without a
    # client's primary the job decides it on its first item (the first exterior).
    contexts = [{"bundle": True, "room": rooms[i]} for i in range(n_photos)]
    primary = bundle.primary if bundle.primary is not None else UNDECIDED
    return {"primary": primary, "dusk_primary": bundle.dusk_primary, "rooms": rooms, "contexts": contexts}


def consistency_control(job: dict, vertical: str) -> dict:
    """``consistency=lock`` (jewelry): one look across the job, measured on the photo
    ``reference`` (default 0): its white point, key light, canvas and fill."""
    mode = job.get("consistency", "off")
    if mode not in ("off", "lock"):
        raise InvalidOptions(f"consistency: must be 'off' or 'lock', got {mode!r}")
    if mode == "off":
        if "reference" in job:
            raise InvalidOptions("reference: only with consistency=lock")
        return {}
    if vertical != "jewelry":
        raise InvalidOptions("consistency=lock is for jewelry jobs (a catalog's one look)")
    try:
        reference = int(job.get("reference", 0))
    except ValueError:
        raise InvalidOptions(f"reference: must be a photo index, got {job.get('reference')!r}") from None
    return {"consistency": {"lock": True, "reference": reference}}


#: What every job route may answer besides its success (an ErrorBody each): no or a bad key,
#: another tenant's or an unknown job, a bad parameter, the tenant's rate, the gate's database.
JOB_ERRORS = (401, 403, 404, 422, 429, 503)
#: A job's photos stay under max_items (at most 100 000): an index past that is a 422, never a
#: value the database cannot hold (2**63 was a 500: "Python int too large to convert to SQLite INTEGER").
ItemIndex = Annotated[int, PathParam(ge=0, lt=100_000, description="The item's index in the job, from 0.")]


def file_ok(*media_types: str, what: str, json_report: bool = False) -> dict:
    """The 200 of a route that answers a file (``json_report``: or, on request, a JSON report)."""
    content = {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types}
    if json_report:
        content["application/json"] = {"schema": {"type": "object"}}
    return {200: {"description": what, "content": content}}


api, ACCESS = ingress_api(
    "lumograph jobs",
    "Asynchronous batches for both verticals: submit photos, get 202 and a job id, poll or take a signed "
    "webhook, download each image or the whole archive.",
)


@serve.deployment(name="JobsIngress")
@serve.ingress(api)
class JobsIngress:
    def __init__(self, **args):
        self.args = JobsAppArgs.model_validate(args)
        ACCESS.body_limits.update(self.args.body_limits())
        limits = {"max_pixels": self.args.max_pixels, "max_bytes": self.args.max_upload_bytes}
        if self.args.steps == "actors":
            pool = ActorPool(self.args.concurrency, backend="classical", **limits)
            runners = {vertical: PoolRunner(vertical, pool) for vertical in ("jewelry", "listing")}
        else:
            steps = {"jewelry": jewelry_steps(), "listing": listing_steps()}
            runners = {vertical: PhotoRunner(vertical, steps[vertical], **limits)
                       for vertical in ("jewelry", "listing")}
        self.service = JobService(job_settings(self.args), runners)
        # Keys and buckets live in the job database: the gate uses the service's engine.
        ACCESS.gate = Gate(self.service.engine, self.args.limits)
        self.metrics = IngressMetrics("jobs")
        self._started: Optional[asyncio.Task] = None

    async def _ensure_started(self) -> None:
        """Recovery, owed callbacks and the workers start on the replica's event loop."""
        if self._started is None:
            self._started = asyncio.ensure_future(self.service.start())
        await asyncio.shield(self._started)

    async def check_health(self) -> None:
        await self._ensure_started()

    async def __del__(self) -> None:
        """Serve's graceful stop, once the HTTP requests in flight are answered: the items
        in hand get ``shutdown_grace_s`` to finish, the rest go back to the queue."""
        if self._started is None:
            return
        outcome = await self.service.stop(self.args.shutdown_grace_s)
        logger.info("jobs: stopped; %d item(s) finished during the grace period, %d handed back to the queue",
                    outcome["finished"], outcome["handed_back"])

    async def _owned(self, request: Request, job_id: str) -> None:
        """404 ``job_not_found`` unless the caller's tenant owns the job (another tenant's
        job is answered exactly as an unknown id)."""
        await asyncio.to_thread(self.service.store.owned_job, job_id, principal_of(request).tenant)

    @api.get("/healthz")
    async def healthz(self):
        await self._ensure_started()
        worker = self.service.worker
        return {"status": "ok", "steps": self.args.steps, "database": self.service.engine.dialect.name,
                "storage": self.service.storage.root,
                "workers": worker.concurrency, "lease_s": worker.lease_s, "items_processed": worker.processed,
                "recovered_at_start": self.service.recovered}

    @api.post("/jobs", status_code=202,
              summary="Submit a job: photos (or photo URLs, or a server-side source) and options",
              responses={202: {"description": "The job was queued; its id and URLs."},
                         200: {"description": "A retried submit (same Idempotency-Key and body): the same job."},
                         **error_responses(400, 401, 403, 408, 409, 413, 415, 422, 429, 503)})
    async def submit(
        self,
        request: Request,
        image: Annotated[Optional[list[UploadFile]], File(description="One part per photo.")] = None,
        idempotency_key: Annotated[Optional[str], Header(max_length=255)] = None,
    ):
        return await answer("/v1/jobs", lambda req, rid: self._submit(req, rid, idempotency_key), request,
                            self.metrics)

    async def _submit(self, request: Request, rid: str, idempotency_key: Optional[str]) -> Response:
        await self._ensure_started()
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            raise InvalidOptions("submit a job as a multipart form: 'image' parts (or 'url' or 'source' fields), "
                                 "'vertical' and the vertical's options", code="invalid_request")
        try:
            form = await request.form(max_files=self.args.max_items + 1, max_fields=300)
        except LumographError:
            raise  # the body passed its limit while it streamed in
        except Exception as exc:
            raise InvalidOptions(f"the multipart body could not be parsed: {exc}", code="invalid_request") from None
        try:  # the spooled upload files are removed whatever happens
            files = [u for u in form.getlist("image") if not isinstance(u, str)]
            # 'url' repeats (one field per photo): kept as a list, never folded into the options.
            urls = [u for u in form.getlist("url") if isinstance(u, str)]
            fields = {k: v for k, v in form.multi_items() if k not in ("image", "url") and isinstance(v, str)}
            job = {k: fields.pop(k) for k in JOB_FIELDS if k in fields}
            vertical = job.get("vertical")
            if vertical not in OPTION_MODELS:
                raise InvalidOptions(f"vertical: must be 'jewelry' or 'listing', got {vertical!r}")
            n_photos = len(files) + len(urls)
            bundle = None
            if _flag(job.get("bundle")):
                if vertical != "listing":
                    raise InvalidOptions("bundle: only a listing job can be a bundle")
                bundle = bundle_contexts(fields, n_photos)
            options = parse_options(OPTION_MODELS[vertical], fields).model_dump(mode="json")
            controls = {"smart_retry": _flag(job.get("smart_retry", "true")), **consistency_control(job, vertical)}
            caller = principal_of(request)
            count_images(request, n_photos)
            job_id, created = await asyncio.to_thread(
                self.service.submit, vertical=vertical, options=options,
                uploads=[Upload(f.filename, f.file) for f in files], source=job.get("source"), urls=urls,
                callback_url=job.get("callback_url"), callback_per_item=_flag(job.get("callback_per_item")),
                bundle=bundle, idempotency_key=idempotency_key, controls=controls,
                tenant=caller.tenant, max_active_jobs=caller.limits.max_active_jobs)
        finally:
            await form.close()
        status = await asyncio.to_thread(self.service.status, job_id, with_items=False)
        body = {"id": job_id, "state": status["state"], "n_items": status["n_items"], "created": created,
                "urls": status["urls"], "request_id": rid}
        headers = {"Location": status["urls"]["self"]}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body, status_code=202 if created else 200, headers=headers)

    @api.get("/jobs/{job_id}", summary="A job's state, counts, progress, per-item verdicts and billing",
             responses=error_responses(*JOB_ERRORS))
    async def status(self, request: Request, job_id: str,
                     items: Annotated[bool, Query(description="Include the per-item list.")] = True):
        async def handler(req, rid):
            await self._owned(req, job_id)
            return JSONResponse(await asyncio.to_thread(self.service.status, job_id, with_items=items))
        return await answer("/v1/jobs/{id}", handler, request, self.metrics)

    @api.get("/jobs/{job_id}/items/{n}", summary="One item's image (or its report with report=json)",
             response_class=Response,
             responses={**file_ok("image/jpeg", "image/png", "image/webp", json_report=True,
                                  what="The item's image, or with report=json its report."),
                        **error_responses(409, *JOB_ERRORS)})
    async def item(self, request: Request, job_id: str, n: ItemIndex,
                   report: Annotated[Optional[str], Query(description="json: the item's report")] = None):
        async def handler(req, rid):
            await self._owned(req, job_id)
            row = await asyncio.to_thread(self.service.store.item_row, job_id, n)
            if report_wanted({"report": report} if report else {}, req):
                if not row.report_uri:
                    raise ItemNotReady(f"item {n} of job {job_id} has no report yet (state {row.state})")
                data = await asyncio.to_thread(Storage.read, row.report_uri)
                return Response(content=data, media_type="application/json")
            if row.state == "done" and row.output_uri:
                data = await asyncio.to_thread(Storage.read, row.output_uri)
                return Response(content=data, media_type=row.media_type, headers={
                    "X-Lumograph-Verdict": row.verdict or "", "ETag": f'"{row.output_sha256}"',
                    "X-Lumograph-Billable": "true" if row.billable else "false"})
            if row.state in ("queued", "running"):
                raise ItemNotReady(f"item {n} of job {job_id} is {row.state}")
            raise ItemNotDelivered(f"item {n} of job {job_id} ended {row.state} without an image",
                                   details={"state": row.state, "verdict": row.verdict, "error": row.error})
        return await answer("/v1/jobs/{id}/items/{n}", handler, request, self.metrics)

    @api.get("/jobs/{job_id}/archive", summary="A zip: every delivered image, report.csv and report.json",
             response_class=Response,
             responses={**file_ok("application/zip", what="The job's archive."), **error_responses(*JOB_ERRORS)})
    async def archive(self, request: Request, job_id: str):
        async def handler(req, rid):
            await self._owned(req, job_id)
            path = await asyncio.to_thread(write_archive, self.service.store, job_id)
            return FileResponse(path, media_type="application/zip", filename=f"lumograph-job-{job_id}.zip",
                                background=BackgroundTask(os.unlink, path))
        return await answer("/v1/jobs/{id}/archive", handler, request, self.metrics)

    @api.get("/jobs/{job_id}/sheet", summary="The whole job on one contact sheet (PNG) with its consistency numbers",
             response_class=Response,
             responses={**file_ok("image/png", what="The contact sheet."), **error_responses(*JOB_ERRORS)})
    async def sheet(self, request: Request, job_id: str):
        async def handler(req, rid):
            await self._owned(req, job_id)
            png = await asyncio.to_thread(job_sheet, self.service.store, job_id)
            return Response(content=png, media_type="image/png")
        return await answer("/v1/jobs/{id}/sheet", handler, request, self.metrics)

    @api.delete("/jobs/{job_id}", summary="Cancel what has not started", responses=error_responses(*JOB_ERRORS))
    async def cancel(self, request: Request, job_id: str):
        async def handler(req, rid):
            await self._owned(req, job_id)
            result = await self.service.cancel(job_id)
            status = await asyncio.to_thread(self.service.status, job_id, with_items=False)
            return JSONResponse({**result, "state": status["state"], "counts": status["counts"]})
        return await answer("/v1/jobs/{id}", handler, request, self.metrics)

    @api.post("/jobs/{job_id}/redeliver", status_code=202, summary="Send the job's webhook again",
              responses=error_responses(*JOB_ERRORS))
    async def redeliver(self, request: Request, job_id: str):
        async def handler(req, rid):
            await self._ensure_started()
            await self._owned(req, job_id)
            task = self.service.notifier.redeliver(job_id)
            if task is None:
                raise InvalidOptions(f"job {job_id} has no callback_url")
            return JSONResponse({"redelivering": True, "job_id": job_id}, status_code=202)
        return await answer("/v1/jobs/{id}/redeliver", handler, request, self.metrics)

    @api.get("/jobs/{job_id}/deliveries", summary="The job's webhook delivery log",
             responses=error_responses(*JOB_ERRORS))
    async def deliveries(self, request: Request, job_id: str):
        async def handler(req, rid):
            await self._owned(req, job_id)
            return JSONResponse({"job_id": job_id,
                                 "deliveries": await asyncio.to_thread(self.service.store.deliveries, job_id),
                                 "signature": {"header": webhooks.SIGNATURE_HEADER,
                                               "timestamp_header": webhooks.TIMESTAMP_HEADER,
                                               "replay_window_s": webhooks.REPLAY_WINDOW_S}})
        return await answer("/v1/jobs/{id}/deliveries", handler, request, self.metrics)

