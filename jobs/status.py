"""What a client polls: a job's state, counts per item state, progress, per-item verdicts,
the billing summary and the webhook's state, as one JSON-able dict (the webhook sends the
same dict)."""
from __future__ import annotations

from typing import Any

from lumograph.jobs.db import FINAL_ITEM_STATES, ITEM_STATES
from lumograph.jobs.store import JobStore


def item_entry(job_id: str, row, prefix: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"n": row.n, "filename": row.filename, "state": row.state}
    if row.state in FINAL_ITEM_STATES:
        entry.update(verdict=row.verdict, billable=bool(row.billable),
                     seconds=round(row.seconds, 3) if row.seconds is not None else None)
    if row.error:
        entry["error"] = row.error
    if row.state == "done":
        entry["url"] = f"{prefix}/jobs/{job_id}/items/{row.n}"
    if row.report_uri:
        entry["report_url"] = f"{prefix}/jobs/{job_id}/items/{row.n}?report=json"
    return entry


def job_status(store: JobStore, job_id: str, *, prefix: str = "/v1", with_items: bool = True) -> dict[str, Any]:
    job = store.job_row(job_id)
    counts = {state: 0 for state in ITEM_STATES}
    counts.update(store.counts(job_id))
    finished = sum(counts[s] for s in FINAL_ITEM_STATES)
    status: dict[str, Any] = {
        "id": job.id,
        "vertical": job.vertical,
        "state": job.state,
        "n_items": job.n_items,
        "counts": counts,
        "progress": round(finished / job.n_items, 4) if job.n_items else 1.0,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "options": job.options,
        "controls": job.controls or {},
        "billing": store.billing(job_id),
        "webhook": ({"state": job.webhook_state, "per_item": bool(job.callback_per_item),
                     "deliveries_url": f"{prefix}/jobs/{job_id}/deliveries"} if job.callback_url else None),
        "urls": {"self": f"{prefix}/jobs/{job_id}", "archive": f"{prefix}/jobs/{job_id}/archive",
                 "items": f"{prefix}/jobs/{job_id}/items/{{n}}"},
    }
    if job.bundle:
        status["bundle"] = job.bundle
    if job.summary:
        status["summary"] = job.summary
    if with_items:
        status["items"] = [item_entry(job_id, row, prefix) for row in store.item_rows(job_id)]
    return status
