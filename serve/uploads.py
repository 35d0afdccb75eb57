"""What every ingress does with a request before the graph: request id, upload, options.

Imported by the ingress modules at the top (names bound before ``@serve.ingress``
snapshots the module globals).
"""
import re
import uuid
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from lumograph.models.common.errors import InvalidOptions, LumographError

#: Serve's proxy puts an X-Request-ID on every request (the client's, else its own) and
#: echoes it on the answer; the body uses the same one. Printable ASCII only (headers carry
#: no line breaks anyway), bounded so a log line stays a line.
_REQUEST_ID = re.compile(r"^[\x20-\x7e]{1,256}$")
Options = TypeVar("Options", bound=BaseModel)


def request_id_for(request: Request) -> str:
    """The request's ``X-Request-ID`` (the one the proxy answers with), else a new one."""
    given = request.headers.get("x-request-id", "").strip()
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def parse_options(model: type[Options], fields: dict[str, str]) -> Options:
    """Validate form/query fields into ``model``; errors quote the bad value."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        ]
        raise InvalidOptions("; ".join(problems), details={"errors": problems}) from None


def report_wanted(fields: dict[str, str], request: Request) -> bool:
    """Whether to answer the JSON report: ``report=json`` (query or form; taken out of
    ``fields``) or an ``Accept`` header that asks for JSON and no image. Any other
    ``report`` value is an ``invalid_options`` error, never silently ignored."""
    value = fields.pop("report", None)
    if value not in (None, "json"):
        raise InvalidOptions(f"report: must be 'json' (or absent), got {value!r}")
    accept = request.headers.get("accept", "")
    return value == "json" or ("application/json" in accept and "image/" not in accept)


async def read_uploads(request: Request, max_files: int = 1
                       ) -> tuple[list[tuple[bytes, str | None]], dict[str, str]]:
    """The multipart ``image`` parts (or one raw image body) and the option fields.

    Returns ([(bytes, filename), ...], fields). Query parameters are merged into the
    fields (the form wins). More than ``max_files`` images is an ``invalid_options`` error.
    """
    ctype = request.headers.get("content-type", "")
    fields: dict[str, str] = {}
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=max_files + 1, max_fields=200)
        except LumographError:
            raise  # the body passed its limit while it streamed in
        except Exception as exc:
            raise InvalidOptions(f"the multipart body could not be parsed: {exc}",
                                 code="invalid_request") from None
        files = [u for u in form.getlist("image") if not isinstance(u, str)]
        if not files:
            raise InvalidOptions("multipart field 'image' (a file) is required", code="missing_image")
        if len(files) > max_files:
            raise InvalidOptions(f"at most {max_files} 'image' parts are accepted, got {len(files)}",
                                 code="too_many_images")
        uploads = [(await f.read(), f.filename) for f in files]
        fields = {k: v for k, v in form.multi_items() if k != "image" and isinstance(v, str)}
    else:
        # A raw body (Content-Type: image/*) is accepted too, options in the query string.
        uploads = [(await request.body(), None)]
    for key, value in request.query_params.items():
        fields.setdefault(key, value)
    return uploads, fields
