"""Colour grader deployment's module: jewelry illuminant and metal tones; listing window
pull, bracket merge and room-aware grade.

Files: ``core.py``, ``illuminant.py``, ``metal_tone.py``, ``window_pull.py``,
``brackets.py``, ``room_grade.py`` (all classical; no learned backend)."""
from lumograph.models.common.backends import Backend

#: Every backend this module can run, by name: ``auto`` tries the learned ones in order.
BACKENDS = {
    "classical": Backend("classical", "lumograph.models.grader.core"),
}
