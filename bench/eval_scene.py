"""Listing scene classifier accuracy on ``listing_photos`` (the label is in each file
name: ``frontal`` = exterior; ``kitchen``, ``bathroom``, ``bedroom`` = interior rooms).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lumograph.models.classifier.scene import classify_scene
from lumograph.models.common.errors import InvalidImage, InvalidOptions

#: Eval file-name label -> (scene, room type).
EVAL_LABELS = {
    "frontal": ("exterior", None),
    "kitchen": ("interior", "kitchen"),
    "bathroom": ("interior", "bathroom"),
    "bedroom": ("interior", "bedroom"),
}



def evaluate_scene(data_dir) -> dict:
    """Accuracy of ``classify_scene`` on ``<data_dir>/listing_photos/houseN_LABEL.jpg``.

    LABEL: ``frontal`` (exterior) or ``bathroom`` | ``bedroom`` | ``kitchen``.
    Returns {"n", "exterior_acc" (exterior/interior accuracy over all photos),
    "room_acc" (room accuracy over true interiors; an interior called exterior counts
    as wrong), "confusion": {true_label: {pred_label: count}} with pred "exterior" for
    photos called exterior, "labels": sorted true labels, "errors": [file names]}.
    Raises ``InvalidOptions`` when the folder holds no labelled photo.
    """
    folder = Path(data_dir) / "listing_photos"
    files = sorted(folder.glob("house*_*.jpg"))
    items = [(f, f.stem.rsplit("_", 1)[-1]) for f in files]
    items = [(f, lab) for f, lab in items if lab in EVAL_LABELS]
    if not items:
        raise InvalidOptions(f"no houseN_LABEL.jpg listing photos under data_dir, got {str(data_dir)!r}")
    confusion: dict = {}
    scene_ok = room_ok = n_rooms = 0
    errors = []
    for path, label in items:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InvalidImage(f"cannot decode eval photo, got {str(path)!r}")
        result = classify_scene(np.ascontiguousarray(bgr[:, :, ::-1]))
        true_scene, true_room = EVAL_LABELS[label]
        pred = "exterior" if result.scene == "exterior" else result.room_type
        confusion.setdefault(label, {})
        confusion[label][pred] = confusion[label].get(pred, 0) + 1
        scene_ok += result.scene == true_scene
        if true_room is not None:
            n_rooms += 1
            room_ok += pred == true_room
        if pred != (true_room or "exterior"):
            errors.append(path.name)
    return {
        "n": len(items),
        "exterior_acc": round(scene_ok / len(items), 4),
        "room_acc": round(room_ok / n_rooms, 4) if n_rooms else None,
        "confusion": confusion,
        "labels": sorted(confusion),
        "errors": errors,
    }
