"""A finished job as one zip: every delivered image, ``report.csv`` (a row per photo),
``report.json`` (the job's status plus each photo's full report) and ``sheet.png`` (the
whole job on one contact sheet, with its consistency numbers)."""
from __future__ import annotations

import csv
import io
import json
import posixpath
import tempfile
import zipfile

from lumograph.jobs.sheet import job_sheet
from lumograph.jobs.status import job_status
from lumograph.jobs.storage import Storage
from lumograph.jobs.store import JobStore

CSV_COLUMNS = ("n", "filename", "state", "verdict", "billable", "error_code", "seconds", "output")


def output_name(n: int, filename: str | None, uri: str) -> str:
    stem = posixpath.splitext(posixpath.basename(filename or ""))[0] or "photo"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)[:80]
    return f"{n:05d}_{safe}{posixpath.splitext(uri)[1]}"


def write_archive(store: JobStore, job_id: str, *, prefix: str = "/v1") -> str:
    """Write the archive to a temporary file and return its path (the caller deletes it)."""
    status = job_status(store, job_id, prefix=prefix)
    handle = tempfile.NamedTemporaryFile(prefix=f"lumograph-{job_id}-", suffix=".zip", delete=False)
    rows, reports = [], []
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
        for row in store.item_rows(job_id):
            name = output_name(row.n, row.filename, row.output_uri) if row.output_uri else ""
            if row.output_uri:  # images are already compressed: stored as they are
                archive.writestr(f"images/{name}", Storage.read(row.output_uri))
            if row.report_uri:
                reports.append(json.loads(Storage.read(row.report_uri)))
            rows.append({"n": row.n, "filename": row.filename, "state": row.state, "verdict": row.verdict or "",
                         "billable": bool(row.billable), "error_code": (row.error or {}).get("code", ""),
                         "seconds": f"{row.seconds:.3f}" if row.seconds is not None else "",
                         "output": f"images/{name}" if name else ""})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr("report.csv", text.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("sheet.png", job_sheet(store, job_id))
        archive.writestr("report.json", json.dumps({"job": status, "items": reports}, indent=1, sort_keys=True),
                         compress_type=zipfile.ZIP_DEFLATED)
    handle.close()
    return handle.name
