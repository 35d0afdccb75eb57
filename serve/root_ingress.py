"""The root of the service (``/``): the ``modules`` application's HTTP ingress.

``/`` and ``/docs`` answer a page linking each vertical's API docs (``/jewelry/docs``,
``/listing/docs``, served offline by fastapi-offline) and ``/healthz`` reports every
shared module's backend. It holds the ``ModuleDirectory`` handle; the verticals reach the
module replicas by name, not through here.
"""
# No `from __future__ import annotations` (see jewelry_ingress.py).
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from ray import serve

from lumograph.serve.errors import install_error_handlers
from lumograph.serve.responses import health

api = FastAPI(title="lumograph", docs_url=None, redoc_url=None, openapi_url=None)
install_error_handlers(api)

VERTICALS = (
    ("jewelry", "Jewelry lightbox: a raw photo of a piece in, a marketplace-ready catalog image out."),
    ("listing", "Listing enhancement: each listing photo gets only the fixes it needs, with MLS disclosures."),
)


def index_html() -> str:
    items = "".join(
        f'<li><b>{name}</b>: {what}<br><a href="/{name}/docs">/{name}/docs</a> (Swagger UI) · '
        f'<a href="/{name}/redoc">/{name}/redoc</a> · <a href="/{name}/openapi.json">/{name}/openapi.json</a> · '
        f'<a href="/{name}/healthz">/{name}/healthz</a></li>'
        for name, what in VERTICALS)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>lumograph API</title></head>"
            "<body style='font-family:sans-serif;max-width:52em;margin:2em auto'>"
            f"<h1>lumograph</h1><p>Two APIs, one model graph:</p><ul>{items}</ul>"
            "<p><a href='/healthz'>/healthz</a>: the backend every shared module runs.</p></body></html>")


@serve.deployment(name="RootIngress")
@serve.ingress(api)
class RootIngress:
    def __init__(self, directory) -> None:
        self.directory = directory

    @api.get("/", response_class=HTMLResponse)
    async def index(self):
        return index_html()

    @api.get("/docs", response_class=HTMLResponse)
    async def docs(self):
        return index_html()

    @api.get("/healthz")
    async def healthz(self, request: Request):
        return await health(self.directory, request)
