"""Job inputs and outputs behind fsspec: a local folder by default, ``s3://...`` by URL.

Keys are relative (``jobs/<id>/in/00001.jpg``); the database stores full URIs so an item
can also point at a photo the operator's folder already holds (a server-side input).
Writes are atomic where the filesystem allows it (a temporary name, then a move), so a
crash never leaves half an output under its final name.
"""
from __future__ import annotations

import posixpath
import uuid

import fsspec
from fsspec.core import url_to_fs

from lumograph.jobs.fetch import is_fetchable
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.imageio import IMAGE_SUFFIXES


def _join(root: str, key: str) -> str:
    return root.rstrip("/") + "/" + key.lstrip("/")


class Storage:
    """A root URI (``/var/lib/lumograph/store``, ``file:///...``, ``s3://bucket/prefix``)."""

    def __init__(self, root: str):
        self.fs, path = url_to_fs(root)
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self.root_path = path.rstrip("/")
        protocol = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        self.root = self.root_path if self.local else f"{protocol}://{self.root_path}"
        if self.local:
            self.fs.makedirs(self.root_path, exist_ok=True)

    def uri(self, key: str) -> str:
        return _join(self.root, key)

    def write(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key``; returns its URI."""
        uri = self.uri(key)
        fs, path = url_to_fs(uri)
        parent = posixpath.dirname(path)
        if self.local:
            fs.makedirs(parent, exist_ok=True)
            temp = f"{parent}/.{posixpath.basename(path)}.{uuid.uuid4().hex}.tmp"
            with fs.open(temp, "wb") as f:
                f.write(data)
            fs.mv(temp, path)
        else:  # object stores publish a whole object at once
            with fs.open(path, "wb") as f:
                f.write(data)
        return uri

    @staticmethod
    def read(uri: str) -> bytes:
        """The bytes at a storage URI. An http(s) URL is refused (fsspec would fetch it with
        no address guard): URLs are fetched only by ``jobs.fetch``."""
        if is_fetchable(uri):
            raise InvalidOptions(f"{uri!r} is a URL, not a storage URI; URLs are fetched through jobs.fetch")
        with fsspec.open(uri, "rb") as f:
            return f.read()

    @staticmethod
    def exists(uri: str) -> bool:
        fs, path = url_to_fs(uri)
        return fs.exists(path)

    def delete_prefix(self, key: str) -> None:
        fs, path = url_to_fs(self.uri(key))
        if fs.exists(path):
            fs.rm(path, recursive=True)


def list_photos(uri: str, allowed_roots: list[str]) -> list[tuple[str, str, int]]:
    """The photos under a server-side folder (or one file): (URI, name, bytes), sorted.

    Only URIs under one of the operator's ``allowed_roots`` are read: a client cannot make
    the service read arbitrary paths. Raises ``InvalidOptions`` otherwise.
    """
    fs, path = url_to_fs(uri)
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    norm = posixpath.normpath(path)
    allowed = False
    for root in allowed_roots:
        root_fs, root_path = url_to_fs(root)
        root_protocol = root_fs.protocol[0] if isinstance(root_fs.protocol, tuple) else root_fs.protocol
        root_norm = posixpath.normpath(root_path)
        if root_protocol == protocol and (norm == root_norm or norm.startswith(root_norm.rstrip("/") + "/")):
            allowed = True
            break
    if not allowed:
        raise InvalidOptions(f"source {uri!r} is not under a folder the operator allowed "
                             f"(input_roots: {len(allowed_roots)} configured)")
    if not fs.exists(norm):
        raise InvalidOptions(f"source {uri!r} does not exist")
    prefix = "" if protocol in ("file", "local") else f"{protocol}://"
    if fs.isfile(norm):
        return [(prefix + norm, posixpath.basename(norm), int(fs.size(norm)))]
    found = []
    for name, info in sorted(fs.find(norm, detail=True).items()):
        if info.get("type") == "file" and name.lower().endswith(IMAGE_SUFFIXES):
            found.append((prefix + name, posixpath.relpath(name, norm), int(info.get("size") or 0)))
    return found
