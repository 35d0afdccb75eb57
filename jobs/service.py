"""The job service: submit (bounded, idempotent), the workers, the callbacks, cancel, and
the archive, over one database and one storage root.

Hosted by the jobs ingress in Serve (steps = module deployment handles) and in-process
by tests and the bench (steps = local cores). Options arrive already validated (the
ingress validates them with the same pydantic models as the synchronous routes).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from lumograph.jobs import fetch, webhooks
from lumograph.jobs.db import open_db
from lumograph.jobs.fetch import AddressGuard, Resolver
from lumograph.jobs.notify import JobNotifier
from lumograph.jobs.runner import PhotoRunner
from lumograph.jobs.status import job_status
from lumograph.jobs.storage import Storage, list_photos
from lumograph.jobs.store import JobStore, NewItem, NewJob
from lumograph.jobs.worker import JobWorker, close_job
from lumograph.models.common.errors import InvalidOptions, LumographError

_CHUNK = 1 << 20


class JobTooLarge(LumographError):
    """Over the items or bytes a job may have (413)."""

    code = "job_too_large"


class TooManyJobs(LumographError):
    """Over the jobs in flight the service takes (429); retry later."""

    code = "too_many_jobs"


@dataclass
class JobLimits:
    max_items: int = 5000
    max_bytes: int = 20 * 1024 ** 3
    max_file_bytes: int = 40 * 1024 ** 2
    max_active_jobs: int = 20


@dataclass
class JobSettings:
    """Where state lives and how work runs (the jobs app's args)."""

    database_url: str
    storage_root: str
    webhook_secret: bytes
    concurrency: int = 2
    lease_s: float = 30.0
    poll_s: float = 1.0
    input_roots: list[str] = field(default_factory=list)
    allow_private_callbacks: bool = False
    limits: JobLimits = field(default_factory=JobLimits)
    retry: webhooks.RetryPolicy = webhooks.DEFAULT_POLICY
    prefix: str = "/v1"
    #: Photo URLs (``urls``): may they point into private networks; the whole fetch's time
    #: cap; how many times an item whose fetch failed in a passing way (a timeout, a 5xx, a
    #: refused connection) is taken, one lease apart, before its error is recorded.
    allow_private_inputs: bool = False
    fetch_timeout_s: float = 30.0
    fetch_attempts: int = 3
    #: Exact non-public addresses a fetch or a callback may still reach, and the resolver
    #: (None: the system's DNS): tests' local servers behind a stub resolver.
    allowed_addresses: frozenset[str] = frozenset()
    resolver: Resolver | None = None

    def guard(self, allow_private: bool) -> AddressGuard:
        return AddressGuard(allow_private=allow_private, allowed=self.allowed_addresses, resolver=self.resolver)


@dataclass
class Upload:
    """One photo of a submit: a file object (spooled upload) or bytes."""

    filename: str | None
    file: IO[bytes] | bytes

    def chunks(self):
        if isinstance(self.file, (bytes, bytearray)):
            yield bytes(self.file)
            return
        self.file.seek(0)
        while chunk := self.file.read(_CHUNK):
            yield chunk


def _digest(upload: Upload, max_file_bytes: int) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    for chunk in upload.chunks():
        h.update(chunk)
        size += len(chunk)
        if size > max_file_bytes:
            raise JobTooLarge(f"photo {upload.filename!r} is over {max_file_bytes} bytes",
                              code="upload_too_large")
    if size == 0:
        raise InvalidOptions(f"photo {upload.filename!r} is 0 bytes", code="empty_upload")
    return h.hexdigest(), size


class JobService:
    def __init__(self, settings: JobSettings, runners: dict[str, PhotoRunner]):
        self.settings = settings
        self.engine = open_db(settings.database_url)
        self.store = JobStore(self.engine)
        self.storage = Storage(settings.storage_root)
        self.callback_guard = settings.guard(settings.allow_private_callbacks)
        self.input_guard = settings.guard(settings.allow_private_inputs)
        self.notifier = JobNotifier(self.store, settings.webhook_secret, policy=settings.retry,
                                    prefix=settings.prefix, guard=self.callback_guard)
        self.worker = JobWorker(self.store, self.storage, runners, concurrency=settings.concurrency,
                                lease_s=settings.lease_s, poll_s=settings.poll_s,
                                on_progress=self.notifier.on_progress, fetch_url=self.fetch_photo,
                                fetch_attempts=settings.fetch_attempts)
        self.recovered = 0

    async def start(self) -> None:
        """Start-up: running items whose worker died go back to the queue, owed callbacks
        are sent, the workers start."""
        self.recovered = await asyncio.to_thread(self.store.recover)
        for job_id in await asyncio.to_thread(self.store.unclosed_jobs):
            closed = await asyncio.to_thread(close_job, self.store, job_id)
            if closed:
                await self.notifier.on_progress(job_id, None, closed)
        await self.notifier.resume()
        self.worker.start()

    async def stop(self, grace_s: float = 0.0) -> dict[str, int]:
        """Stop the workers: items in hand get ``grace_s`` to finish, the rest go back to
        the queue (see ``JobWorker.stop``)."""
        return await self.worker.stop(grace_s)

    async def fetch_photo(self, url: str) -> bytes:
        """A URL item's photo, through the input guard: at most the per-photo byte limit,
        within ``fetch_timeout_s``. Raises ``fetch.FetchError``s."""
        fetched = await fetch.fetch(url, guard=self.input_guard, max_bytes=self.settings.limits.max_file_bytes,
                                    timeout_s=self.settings.fetch_timeout_s)
        return fetched.data

    # -- submit ---------------------------------------------------------------------------

    def submit(self, *, vertical: str, options: dict[str, Any], uploads: list[Upload] | None = None,
               source: str | None = None, urls: list[str] | None = None,
               callback_url: str | None = None, callback_per_item: bool = False,
               bundle: dict[str, Any] | None = None, idempotency_key: str | None = None,
               tenant: str = "default", controls: dict[str, Any] | None = None,
               max_active_jobs: int | None = None) -> tuple[str, bool]:
        """Store the photos and queue the job. Returns (job id, created); a retried submit
        with the same ``idempotency_key`` and body returns the first job (created False).
        ``max_active_jobs``: the tenant's own bound (default: the settings'). Synchronous
        (hashing and copying files): call it in a thread.

        The photos come one way: ``uploads``, a server-side ``source`` folder, or ``urls``
        (http/https). A URL is only parsed here (``invalid_url``; a literal address the input
        guard refuses: ``fetch_refused``): it is resolved and fetched when its item runs, each
        time through the guard, capped at the per-photo byte limit."""
        limits = self.settings.limits
        active_bound = max_active_jobs or limits.max_active_jobs
        uploads, urls = uploads or [], urls or []
        given = sum(map(bool, (uploads, source, urls)))
        if given != 1:
            raise InvalidOptions("give the photos as 'image' file parts, 'url' fields or a 'source' folder: "
                                 "exactly one of them", code="missing_image" if not given else "invalid_options")
        if callback_url:
            callback_url = webhooks.validate_callback_url(callback_url, guard=self.callback_guard)
        if urls:
            if len(urls) > limits.max_items:
                raise JobTooLarge(f"a job takes at most {limits.max_items} photos, got {len(urls)}")
            photos = [(self.input_guard.precheck(url).url, _url_filename(url)) for url in urls]
            total = 0  # unknown until fetched; each photo is capped at max_file_bytes then
        elif uploads:
            if len(uploads) > limits.max_items:
                raise JobTooLarge(f"a job takes at most {limits.max_items} photos, got {len(uploads)}")
            digests = [_digest(u, limits.max_file_bytes) for u in uploads]
            photos = [(f"sha256:{d}", u.filename) for (d, _), u in zip(digests, uploads)]
            total = sum(size for _, size in digests)
        else:
            found = list_photos(source, self.settings.input_roots)
            if not found:
                raise InvalidOptions(f"source {source!r} holds no photos", code="missing_image")
            if len(found) > limits.max_items:
                raise JobTooLarge(f"a job takes at most {limits.max_items} photos, {source!r} has {len(found)}")
            photos = [(uri, name) for uri, name, _ in found]
            total = sum(size for _, _, size in found)
        if total > limits.max_bytes:
            raise JobTooLarge(f"the job's photos are {total} bytes; the limit is {limits.max_bytes}")
        request_hash = hashlib.sha256(json.dumps({
            "vertical": vertical, "options": options, "bundle": bundle, "callback_url": callback_url,
            "per_item": callback_per_item, "controls": controls, "photos": photos}, sort_keys=True).encode()).hexdigest()
        if idempotency_key:
            existing = self.store.find_idempotent(tenant, idempotency_key, request_hash)
            if existing:
                return existing, False
        if self.store.active_jobs(tenant) >= active_bound:
            raise TooManyJobs(f"{active_bound} jobs are already queued or running; retry later",
                              details={"limit": "max_active_jobs", "limit_value": active_bound, "retry_after_s": 30})
        job_id = uuid.uuid4().hex
        contexts = list((bundle or {}).get("contexts") or [])
        if bundle and len(contexts) != len(photos):
            # A bundle from a server-side folder: its photos were counted only now.
            if contexts:
                raise InvalidOptions(f"the bundle names {len(contexts)} photos but the job has {len(photos)}")
            contexts = [{"bundle": True, "room": None} for _ in photos]
        contexts = contexts or [None] * len(photos)
        new_items = []
        if urls:
            new_items = [NewItem(uri, name, 0, contexts[n]) for n, (uri, name) in enumerate(photos)]
        elif uploads:
            for n, (upload, (_, size)) in enumerate(zip(uploads, digests)):
                suffix = _safe_suffix(upload.filename)
                uri = self.storage.write(f"jobs/{job_id}/in/{n:05d}{suffix}", b"".join(upload.chunks()))
                new_items.append(NewItem(uri, upload.filename, size, contexts[n]))
        else:
            new_items = [NewItem(uri, name, size, contexts[n]) for n, (uri, name, size) in enumerate(found)]
        job_bundle = {k: v for k, v in (bundle or {}).items() if k != "contexts"} or None
        winner, created = self.store.create(NewJob(
            vertical=vertical, options=options, items=new_items, bundle=job_bundle, callback_url=callback_url,
            callback_per_item=callback_per_item, idempotency_key=idempotency_key, request_hash=request_hash,
            tenant=tenant, controls=controls, id=job_id))
        if not created and uploads:  # lost an idempotency race: drop this copy of the photos
            self.storage.delete_prefix(f"jobs/{job_id}")
        self.worker.wake()
        return winner, created

    # -- reading and control --------------------------------------------------------------

    def status(self, job_id: str, *, with_items: bool = True) -> dict[str, Any]:
        return job_status(self.store, job_id, prefix=self.settings.prefix, with_items=with_items)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        self.store.job_row(job_id)  # 404 for an unknown id
        result = await asyncio.to_thread(self.store.cancel, job_id)
        closed = await asyncio.to_thread(close_job, self.store, job_id) if result.pop("ready") else ""
        if closed:
            await self.notifier.on_progress(job_id, None, closed)
        return {**result, "closed": closed}


def _url_filename(url: str) -> str | None:
    """The last segment of a URL's path (a file name for the archive and the decoder's hint)."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name[:255] or None


def _safe_suffix(filename: str | None) -> str:
    name = (filename or "").lower()
    dot = name.rfind(".")
    suffix = name[dot:] if dot >= 0 else ""
    return suffix if suffix.isascii() and 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ".bin"
