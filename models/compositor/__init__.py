"""Compositor deployment's module: the lightbox canvas and shadows for jewelry; sky
replacement, day-to-dusk and vertical correction for listings.

Files: ``core.py``, ``lightbox.py``, ``shadow.py``, ``sky_replace.py``, ``dusk.py``,
``verticals.py`` (all classical; no learned backend)."""
from lumograph.models.common.backends import Backend

#: Every backend this module can run, by name: ``auto`` tries the learned ones in order.
BACKENDS = {
    "classical": Backend("classical", "lumograph.models.compositor.core"),
}
