"""The QA module's core: the jewelry input floor, marketplace compliance and the verdict;
the listing output checks."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import numpy as np

from lumograph.models.common.backends import BackendSelection, select_backend
from lumograph.models.common.marketplaces import CanvasPlan, get_profile
from lumograph.models.qa.checks import Check, verdict
from lumograph.models.qa.cutout import check_complete, check_cutout
from lumograph.models.qa.lightbox import check_input, check_output
from lumograph.models.qa.listing import check_listing
from lumograph.models.qa.mls import check_branding, check_people, detected_people, to_delivered_frame
from lumograph.models.qa.text import TextDetector, TextDetectorUnavailable

#: The people scan (the slowest listing check) runs in a thread beside the others; the face
#: cascade and the text detector spend most of their time outside the GIL, so on two cores
#: the QA checks take about as long as the scan alone (bench/perf_listing_qa.py).
#: Shared by the replica's request threads.
_SIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="qa-people")


class QACore:
    """text_detector: the replica's ``qa.text.TextDetector``, built once by the host (the
    QA deployment, ``graphs/local.py``) and kept across re-configurations; None or a
    ``TextDetectorUnavailable`` reports the text/watermark check as "not measured"."""

    def __init__(self, backend: str = "auto", weights_dir: str | None = None, min_short_side: int | None = None,
                 text_detector: TextDetector | TextDetectorUnavailable | None = None):
        self.selection: BackendSelection = select_backend("qa", backend, weights_dir)
        self.min_short_side = None if min_short_side is None else int(min_short_side)
        self.text_detector = text_detector

    def check_jewelry_input(
        self,
        proxy_rgb: np.ndarray,
        source_wh: tuple[int, int],
        *,
        min_short_side: int | None = None,
        subject_alpha_proxy: np.ndarray | None = None,
        canvas: dict | None = None,
    ) -> dict:
        """The input floor, run before any expensive work.

        proxy_rgb: HxWx3 uint8 (~1024 px). source_wh: the upload's (w, h).
        min_short_side: the request's fixed floor, else the configured one (None: none).
        canvas: the planned delivery as a dict of ``marketplaces.CanvasPlan`` fields.
        Returns ``{"verdict", "score", "checks": [dict], "backend"}``.
        """
        floor = min_short_side if min_short_side is not None else self.min_short_side
        checks = check_input(
            proxy_rgb,
            source_wh=tuple(source_wh),
            min_short_side=None if floor is None else int(floor),
            subject_alpha_proxy=subject_alpha_proxy,
            canvas=None if canvas is None else CanvasPlan(**canvas),
        )
        return self._report(checks)

    def check_jewelry_output(
        self,
        encoded: bytes,
        fmt: str,
        marketplace: str,
        prior_checks: list[dict] | None = None,
        cutout: dict | None = None,
    ) -> dict:
        """Re-measure the delivered bytes against the marketplace profile and give the
        verdict over these checks, the cut-out checks and ``prior_checks`` (the input
        floor's). ``cutout``: keyword arguments of ``check_cutout`` (pieces, category,
        magnification, busy_background, background_complexity) plus ``transparent``
        (the client asked for a transparent cut-out) and ``proxy_rgb``/``proxy_alpha`` (the
        photo and its cut-out on the ~1024 px proxy, for ``cutout_complete``), or None."""
        cutout = dict(cutout or {})
        transparent = bool(cutout.pop("transparent", False))
        proxy_rgb, proxy_alpha = cutout.pop("proxy_rgb", None), cutout.pop("proxy_alpha", None)
        checks = check_output(encoded, fmt, get_profile(marketplace), text_detector=self.text_detector)
        if transparent:
            checks = [_transparency_requested(c) for c in checks]
        if cutout:
            checks = [*check_cutout(**cutout), *checks]
        if proxy_rgb is not None and proxy_alpha is not None:
            checks = [check_complete(proxy_rgb, proxy_alpha), *checks]
        prior = [Check(**c) for c in (prior_checks or [])]
        rep = self._report(prior + list(checks))
        rep["output_checks"] = [asdict(c) for c in checks]
        return rep

    def check_listing(self, before_proxy: np.ndarray, after_proxy: np.ndarray, applied: list[str],
                      halo: float | None = None, warp: dict | None = None,
                      people: list[dict] | None = None) -> dict:
        """Compare an enhanced listing photo with its input (both HxWx3 uint8 proxies, the
        edit before any perspective warp, so they line up): structure kept, no new clipping
        or crushed blacks, no halo on replaced skies; and the MLS rules on the edited photo
        (``qa.mls``: no branding, no people; review, with their boxes). warp: the
        perspective correction applied after the edit (``mls.to_delivered_frame``), which
        carries the MLS boxes into the delivered frame, or None. people: a learned
        detector's person boxes on the same frame (``mls.check_people``'s ``detected``),
        or None. Returns ``{"verdict", "score", "checks", "backend"}``."""
        applied = list(applied)
        detected_people(people)  # a malformed list is refused before any work starts
        people = _SIDE.submit(check_people, after_proxy, people)
        try:
            checks = check_listing(before_proxy, after_proxy, applied, halo)
        except BaseException:
            people.cancel()
            raise
        checks.append(to_delivered_frame(check_branding(after_proxy, self.text_detector), warp))
        checks.append(to_delivered_frame(people.result(), warp))
        return self._report(checks)

    def _report(self, checks: list[Check]) -> dict:
        rep = verdict(checks)
        return {
            "verdict": rep.verdict,
            "score": float(rep.score),
            "checks": [asdict(c) for c in rep.checks],
            "backend": self.selection.name,
        }


def _transparency_requested(check: Check) -> Check:
    """A transparent cut-out was asked for: it is a layer for the client's own canvas,
    so its transparency is information, not a breach; every other check still measures
    the file flattened on white (what the layer looks like on a white page)."""
    if check.name != "output_transparency":
        return check
    return Check(check.name, True, "info", check.value, None,
                 f"{check.message}; transparent cut-out requested (checks below measure it flattened on white)")
