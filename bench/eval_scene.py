"""Listing scene classifier accuracy on ``listing_photos`` (the label is in each file
name: ``frontal`` = exterior; ``kitchen``, ``bathroom``, ``bedroom`` = interior rooms),
all-data with the shipped parameters and k-fold by house with parameters re-fitted per
fold by ``bench/fit_scene.py``; beside it the exterior/interior accuracy on the
``sky_masks`` photos (held out by fold) and on leafless stress copies of the exteriors.

Task ``listing_scene`` of ``lumograph eval`` (it reads the ``listing_photos`` folder).
"""
from __future__ import annotations

from pathlib import Path

from lumograph.bench.fit_scene import EVAL_LABELS, FOLDS, extra_photos, kfold, measure_photos, score

__all__ = ["EVAL_LABELS", "evaluate_scene", "evaluate_scene_photos"]


def evaluate_scene_photos(folder, folds: int = FOLDS, limit: int | None = None) -> dict:
    """Accuracy of ``classify_scene`` on ``<folder>/houseN_LABEL.jpg``.

    LABEL: ``frontal`` (exterior) or ``bathroom`` | ``bedroom`` | ``kitchen``. Every photo
    is measured once; the shipped parameters and the per-fold fits score the same
    measurements through ``classify_measurements`` (what ``classify_scene`` runs).
    limit: only the first ``limit`` photos (by name; a smoke run).

    Returns {"n", "exterior_acc" (exterior/interior accuracy over all photos), "room_acc"
    (room accuracy over true interiors; an interior called exterior counts as wrong),
    "exterior_acc_kfold" / "room_acc_kfold" (mean over the ``folds`` folds by house, each
    scored with parameters re-fitted on the others), "exterior_acc_kfold_worst" /
    "room_acc_kfold_worst" (the worst fold), "kfold" (``fit_scene.kfold``: per fold, the
    houses, figures, chosen penalties and errors; None with fewer houses than folds),
    "confusion": {true_label: {pred_label: count}} with pred "exterior" for photos called
    exterior, "labels": sorted true labels, "errors": [file names],
    "sky_masks_scene_acc" / "sky_masks_scene_acc_kfold": exterior/interior accuracy on the
    ``sky_masks`` photos beside the folder (an exterior when the mask holds sky; the
    exterior table is fitted on them too, so only the k-fold figure is held out),
    "leafless_exterior_acc" / "leafless_exterior_acc_kfold": share of the exteriors'
    leafless stress copies (``fit_scene.leafless``) still called exteriors (None without
    those photos, or on a ``limit`` smoke run)}.
    Raises ``InvalidOptions`` when the folder holds no labelled photo.
    """
    photos = measure_photos(Path(folder))[:limit]
    extra = [] if limit is not None else extra_photos(Path(folder), photos)
    result = score(photos)
    folded = kfold(photos + extra, folds) if len({p.house for p in photos}) >= folds else None
    shipped = {source: score([p for p in extra if p.source == source]) for source in ("sky_masks", "leafless")}

    def held(source: str):
        return folded[source]["acc"] if folded else None

    return {
        "n": result["n"],
        "exterior_acc": result["exterior_acc"],
        "room_acc": result["room_acc"],
        "exterior_acc_kfold": folded["exterior_acc"]["mean"] if folded else None,
        "exterior_acc_kfold_worst": folded["exterior_acc"]["worst"] if folded else None,
        "room_acc_kfold": folded["room_acc"]["mean"] if folded else None,
        "room_acc_kfold_worst": folded["room_acc"]["worst"] if folded else None,
        "kfold": folded,
        "confusion": result["confusion"],
        "labels": sorted(result["confusion"]),
        "errors": result["errors"],
        "sky_masks_scene_acc": shipped["sky_masks"]["exterior_acc"],
        "sky_masks_scene_acc_kfold": held("sky_masks"),
        "leafless_exterior_acc": shipped["leafless"]["exterior_acc"],
        "leafless_exterior_acc_kfold": held("leafless"),
    }


def evaluate_scene(data_dir, folds: int = FOLDS) -> dict:
    """``evaluate_scene_photos`` on ``<data_dir>/listing_photos`` (data_dir: an eval folder
    laid out like ``../shared/eval``)."""
    return evaluate_scene_photos(Path(data_dir) / "listing_photos", folds)
