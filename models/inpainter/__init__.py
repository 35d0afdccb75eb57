"""Inpainter deployment's module: glare and mirror fills, generated skies and window
views, virtual staging.

Files: ``core.py``, ``glare.py`` and ``mirror.py`` (classical), ``diffusion.py`` (the
learned diffusers backend)."""
from lumograph.models.common.backends import Backend

#: Every backend this module can run, by name: ``auto`` tries the learned ones in order.
BACKENDS = {
    "classical": Backend("classical", "lumograph.models.inpainter.glare"),
    "diffusers": Backend("diffusers", "lumograph.models.inpainter.diffusion", learned=True),
}
