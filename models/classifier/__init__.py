"""Classifier deployment's module: what a photo shows (jewelry category and metal; listing
scene, room type and mirror).

Files: ``core.py`` (the deployment's core), ``jewelry.py`` and ``scene.py`` (the
classical measurements), ``clip_zero_shot.py`` (the learned CLIP backend)."""
from lumograph.models.common.backends import Backend

#: Every backend this module can run, by name: ``auto`` tries the learned ones in order.
BACKENDS = {
    "classical": Backend("classical", "lumograph.models.classifier.jewelry"),
    "clip": Backend("clip", "lumograph.models.classifier.clip_zero_shot", learned=True),
}
