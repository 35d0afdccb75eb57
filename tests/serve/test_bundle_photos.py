"""A bundle decodes its photos as it processes them: the survey keeps proxies and at most
``hold_pixels`` of full pixels, the graph loads the rest in turn, so the full-resolution
photos alive at once stay bounded by the bundle's concurrency (not by its length)."""
import asyncio
import gc
import threading
import weakref

import numpy as np

from lumograph.graphs.listing import run_bundle
from lumograph.models.common.errors import InvalidImage
from lumograph.models.common.imageio import DecodedImage
from lumograph.serve.bundle_photos import BundlePhotos
from lumograph.serve.schemas import EnhanceOptions
from tests.graphs.test_listing_graph import Fakes

H, W = 60, 80


class CountingDecoder:
    """Decodes b"<level>" into a flat photo; counts the full photos alive at once."""

    def __init__(self):
        self.alive = 0
        self.peak = 0
        self.lock = threading.Lock()  # decodes run in threads; finalizers in whichever frees

    def _gone(self):
        with self.lock:
            self.alive -= 1

    def __call__(self, data: bytes, filename):
        if data == b"bad":
            raise InvalidImage("not an image", code="invalid_image")
        gc.collect()  # count what is still referenced, not garbage a cycle keeps for a while
        rgb = np.full((H, W, 3), int(data), np.uint8)
        with self.lock:
            self.alive += 1
            self.peak = max(self.peak, self.alive)
        weakref.finalize(rgb, self._gone)
        return DecodedImage(rgb=rgb, source_format="JPEG", source_mode="RGB", notes=())


def uploads(n):
    return [(str(60 + i).encode(), f"p{i}.jpg") for i in range(n)]


def test_held_photos_are_decoded_once_the_rest_again_in_turn():
    decoder = CountingDecoder()
    photos = BundlePhotos(decoder, hold_pixels=2 * H * W, concurrency=2)

    async def run():
        surveyed = await photos.survey(uploads(5))
        assert photos.decodes == 5 and all(s.error is None for s in surveyed)
        assert all(s.photo.proxy.shape[:2] == (H, W) for s in surveyed)
        loaded = [await s.photo.load() for s in surveyed]
        return surveyed, loaded

    surveyed, loaded = asyncio.run(run())
    assert photos.decodes == 5 + 3  # two held, three decoded a second time
    assert [int(rgb[0, 0, 0]) for rgb in loaded] == [60, 61, 62, 63, 64]
    assert surveyed[0].decoded.source_format == "JPEG"


def test_a_photo_that_does_not_decode_is_its_own_error():
    photos = BundlePhotos(CountingDecoder(), hold_pixels=0, concurrency=2)
    surveyed = asyncio.run(photos.survey([(b"61", "a.jpg"), (b"bad", "b.jpg")]))
    assert surveyed[0].error is None and surveyed[0].photo is not None
    assert isinstance(surveyed[1].error, InvalidImage) and surveyed[1].photo is None


def test_a_long_bundle_holds_no_more_full_photos_than_its_concurrency():
    decoder = CountingDecoder()
    photos = BundlePhotos(decoder, hold_pixels=0, concurrency=2)

    async def run():
        surveyed = await photos.survey(uploads(10))
        return await run_bundle([s.photo for s in surveyed], EnhanceOptions().model_dump(),
                                Fakes().steps(), request_id="b", concurrency=2)

    out = asyncio.run(run())
    assert out.summary["delivered"] == 10
    assert photos.decodes == 20
    assert decoder.peak <= 2, decoder.peak
