"""Segmenter deployment's module: the jewelry piece's alpha matte, the listing sky matte
and window-glass masks.

Files: ``core.py``, ``jewelry_matte.py`` and ``sky_matte.py`` (classical), ``sam.py``
(the learned Segment Anything backend)."""
from lumograph.models.common.backends import Backend

#: Every backend this module can run, by name: ``auto`` tries the learned ones in order.
BACKENDS = {
    "classical": Backend("classical", "lumograph.models.segmenter.jewelry_matte"),
    "sam": Backend("sam", "lumograph.models.segmenter.sam", learned=True),
}
