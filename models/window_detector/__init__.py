"""Window detector deployment's module: blown-out windows (and mirrors) in listing
photos, with their exposure measured.

Files: ``core.py``, ``classical.py`` (bright-rectangle detector), ``yolo.py`` (the
learned ultralytics backend)."""
from lumograph.models.common.backends import Backend

#: Every backend this module can run, by name: ``auto`` tries the learned ones in order.
BACKENDS = {
    "classical": Backend("classical", "lumograph.models.window_detector.classical"),
    "yolo": Backend("yolo", "lumograph.models.window_detector.yolo", learned=True),
}
