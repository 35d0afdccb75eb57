"""QA deployment's module: the checks both verticals gate on, and their verdict.

Files: ``core.py``, ``checks.py`` (Check, verdict), ``lightbox.py`` (input floor,
marketplace compliance), ``cutout.py`` (piece count, magnification), ``listing.py``
(listing edits) (all classical; no learned backend)."""
from lumograph.models.common.backends import Backend

#: Every backend this module can run, by name: ``auto`` tries the learned ones in order.
BACKENDS = {
    "classical": Backend("classical", "lumograph.models.qa.core"),
}
