"""A listing bundle's photos, decoded as the bundle processes them.

The scene pass needs every photo, the enhancement one photo at a time: ``survey``
decodes each upload once (at most ``concurrency`` at a time), keeps its proxy and what the
report says about the file, and keeps the full-resolution pixels only while the bundle's
held total stays under ``hold_pixels``. A photo not kept is decoded again from its bytes
when ``graphs.listing.run_bundle`` loads it, and a kept one is let go when it is loaded.
So a listing of sixty 24 MP photos holds its proxies, ``hold_pixels`` and the photos in
flight, not 1.4 gigapixels; a short bundle pays no second decode.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lumograph.graphs.jewelry import PROXY_LONG_SIDE
from lumograph.graphs.listing import BundlePhoto
from lumograph.models.common.imageio import DecodedImage, resize_long_side

Decode = Callable[[bytes, "str | None"], DecodedImage]


async def _in_thread(fn: Callable, *args):
    """``fn(*args)`` in a worker thread, holding neither the arguments nor the result past
    the call. ``asyncio.to_thread`` keeps both in the executor's work item until the worker
    thread comes round to deleting it, which may be after this coroutine has moved on: a
    full-resolution photo would outlive its turn and the next decode would start beside it."""
    box: list = [args]

    def call() -> None:
        taken = box.pop()
        box.append(fn(*taken))

    await asyncio.to_thread(call)
    return box.pop()


@dataclass
class Surveyed:
    """One upload after the survey: its ``photo`` for the graph, or the decode ``error``;
    ``decoded`` carries the source format, mode and conversion notes (its pixels are
    dropped unless held)."""

    photo: BundlePhoto | None
    error: Exception | None
    decoded: DecodedImage | None


class BundlePhotos:
    """Decode a bundle's uploads lazily. ``decode`` is the synchronous decoder with the
    route's limits (run in a thread); ``decodes`` counts its calls (a test reads it)."""

    def __init__(self, decode: Decode, *, hold_pixels: int, concurrency: int):
        self._decode = decode
        self._hold_left = int(hold_pixels)
        self._gate = asyncio.Semaphore(max(1, int(concurrency)))
        self.decodes = 0

    async def _pixels(self, data: bytes, filename: str | None) -> DecodedImage:
        self.decodes += 1
        return await _in_thread(self._decode, data, filename)

    async def survey(self, uploads: list[tuple[bytes, str | None]]) -> list[Surveyed]:
        """Decode every upload once, in order of arrival, ``concurrency`` at a time."""
        return list(await asyncio.gather(*(self._one(data, name) for data, name in uploads)))

    async def _one(self, data: bytes, filename: str | None) -> Surveyed:
        async with self._gate:
            try:
                decoded = await self._pixels(data, filename)
            except Exception as exc:  # noqa: BLE001 - the photo's own error, reported with it
                return Surveyed(None, exc, None)
            proxy = await _in_thread(resize_long_side, decoded.rgb, PROXY_LONG_SIDE)
        pixels = decoded.rgb.shape[0] * decoded.rgb.shape[1]
        kept: list[np.ndarray] = []
        if pixels <= self._hold_left:
            self._hold_left -= pixels
            kept.append(decoded.rgb)
        info = DecodedImage(rgb=proxy, source_format=decoded.source_format,
                            source_mode=decoded.source_mode, notes=decoded.notes)
        del decoded

        async def load() -> np.ndarray:
            if kept:
                rgb = kept.pop()
                self._hold_left += pixels
                return rgb
            return (await self._pixels(data, filename)).rgb

        return Surveyed(BundlePhoto(proxy, load), None, info)
