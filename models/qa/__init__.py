"""QA deployment's module: the checks both verticals gate on, and their verdict.

Files: ``core.py``, ``checks.py`` (Check, verdict), ``lightbox.py`` (input floor,
marketplace compliance), ``cutout.py`` (piece count, magnification), ``listing.py``
(listing edits), ``text.py`` (text / watermark finder: a fixed PP-OCRv4 detection network
shipped in the ``rapidocr-onnxruntime`` wheel, run with onnxruntime, built once per replica
by the host and passed in; not a backend choice). No learned backend."""
from lumograph.models.common.backends import Backend

#: Every backend this module can run, by name: ``auto`` tries the learned ones in order.
BACKENDS = {
    "classical": Backend("classical", "lumograph.models.qa.core"),
}
