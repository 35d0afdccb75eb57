"""The HTTP contract as published: OpenAPI declares every option with its values, limits and
description, the success media types and every error status with ``ErrorBody``; the docs
pages load no asset from the internet; the README's error table is the code's."""
from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from lumograph.serve.errors import ERROR_CODES
from lumograph.serve.jewelry_ingress import api as jewelry_api
from lumograph.serve.listing_ingress import api as listing_api
from lumograph.serve.schemas import EnhanceOptions, LightboxOptions, StageOptions

ROOT = Path(__file__).resolve().parents[2]
ERROR_STATUSES = {"400", "413", "415", "422", "503"}


def _form_fields(spec: dict, path: str) -> dict:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    schemas = spec["components"]["schemas"]
    own = schemas[body["$ref"].rsplit("/", 1)[1]]
    fields = dict(own.get("properties", {}))
    for part in own.get("allOf", []):
        fields.update(schemas[part["$ref"].rsplit("/", 1)[1]]["properties"])
    return fields


@pytest.mark.parametrize("api, path, model", [
    (jewelry_api, "/lightbox", LightboxOptions),
    (listing_api, "/enhance", EnhanceOptions),
    (listing_api, "/stage", StageOptions),
])
def test_every_option_is_declared_with_its_values_limits_and_description(api, path, model):
    spec = api.openapi()
    fields = _form_fields(spec, path)
    assert "image" in fields
    for name, info in model.model_fields.items():
        declared = fields[name]
        if name == "modules":  # a comma-separated form field: its own text lists the values
            assert all(m in declared["description"] for m in get_args(get_args(info.annotation)[0])[0].__args__)
            continue
        assert declared.get("description") == info.description, name
        text = repr(declared)
        for value in next((get_args(a) for a in (info.annotation, *get_args(info.annotation))
                           if get_args(a) and all(isinstance(v, str) for v in get_args(a))), ()):
            if name != "modules":  # a comma-separated form field, its values listed in the text
                assert repr(value) in text, (name, value)
        for meta in info.metadata:
            for key, schema_key in (("ge", "minimum"), ("le", "maximum")):
                if getattr(meta, key, None) is not None:
                    assert f"'{schema_key}': {float(getattr(meta, key))}" in text or \
                        f"'{schema_key}': {getattr(meta, key)}" in text, (name, key)


@pytest.mark.parametrize("api, path, json_schema", [
    (jewelry_api, "/lightbox", "LightboxJSON"), (listing_api, "/enhance", "EnhanceJSON"),
])
def test_success_media_types_report_parameter_and_errors_are_declared(api, path, json_schema):
    post = api.openapi()["paths"][path]["post"]
    content = post["responses"]["200"]["content"]
    assert {"image/jpeg", "image/png", "image/webp"} <= set(content)
    assert content["application/json"]["schema"]["$ref"].endswith(json_schema)
    report = next(p for p in post["parameters"] if p["name"] == "report")
    assert report["in"] == "query" and '"json"' in str(report["schema"]).replace("'", '"')
    assert ERROR_STATUSES <= set(post["responses"])
    for status in ERROR_STATUSES:
        assert post["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")


@pytest.mark.parametrize("api", [jewelry_api, listing_api])
def test_docs_pages_load_every_asset_from_the_service(api):
    client = TestClient(api)
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r"""(?:src|href)=["']([^"']+)""", html) + re.findall(r"""url: ?['"]([^'"]+)""", html)
        assert assets, page
        assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
        for asset in assets:
            if "static-offline-docs" in asset:
                assert client.get(asset).status_code == 200, asset


def _codes_raised_in_source() -> set[str]:
    codes = set()
    for folder in ("models", "serve", "graphs", "deployments"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "cli.py":  # the command line's own codes never reach HTTP
                continue
            text = path.read_text()
            codes |= set(re.findall(r"""\bcode\s*=\s*["']([a-z_]+)["']""", text))
            codes |= set(re.findall(r"""\{404: "([a-z_]+)", 405: "([a-z_]+)"\}""", text)[0]) \
                if "404:" in text else set()
            codes |= set(re.findall(r"""\.get\(exc\.status_code, "([a-z_]+)"\)""", text))
    return codes


def test_every_code_the_package_can_raise_is_in_the_error_table():
    raised = _codes_raised_in_source()
    assert {"missing_image", "too_many_images", "invalid_request", "internal_error", "not_found",
            "method_not_allowed"} <= raised
    assert raised <= set(ERROR_CODES), sorted(raised - set(ERROR_CODES))


def test_the_readme_error_table_is_the_codes_table():
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", readme, flags=re.M))
    assert rows == {code: str(status) for code, (status, _) in ERROR_CODES.items()}
