"""Fit the listing scene classifier's parameters (``models/classifier/scene_params.py``)
and say how well the fit carries to houses it has not seen.

The classifier (``models/classifier/scene.py``) makes two decisions, each a linear model
over named measurements of the photo: exterior vs interior (``EXTERIOR_INPUTS``: six
cues) and, for interiors, kitchen / bathroom / bedroom (``ROOM_INPUTS``: six named cues
and a 96-number layout descriptor). Each is fitted here as a multinomial logistic
regression with an L2 penalty on the weights (not the biases) over standardised inputs
(``scene.standardise``: mean 0, standard deviation 1 on the training photos, clipped at
``scene.INPUT_CLIP``). The penalty is chosen from ``L2_GRID`` by grouped
``INNER_FOLDS``-fold cross-validation by house inside the training photos (most held-out
photos right, then the lower log-loss; ties go to the stronger penalty). The exterior
model is fitted on every listing and sky_masks photo; the room model on the listing rooms.

Figures: ``all_data`` scores the parameters fitted on every photo on those same photos
(optimistic). ``kfold``: the 30 houses in ``FOLDS`` folds by house (houses in order of
their number, dealt round-robin, as ``fit_listing_*``: all four photos of a house are in
one fold); each fold is scored with parameters re-fitted (penalty choice included) on the
other four, through the classifier's own code (``classify_measurements``); the sky_masks
photos of the held-out fold and the leafless copies of its exteriors are scored by the same
fit (``kfold``'s "sky_masks" and "leafless"). The exterior/interior and room figures count
the listing photos only. A k-fold figure far under the all-data one means the model fits
the sample, not listings.

Photos: ``<data>/listing_photos/houseN_LABEL.jpg``, LABEL ``frontal`` (exterior) or
``kitchen`` | ``bathroom`` | ``bedroom``, and, for the exterior model only, the ADE20K
photos of ``<data>/sky_masks`` (``sky_mask_photos``): a photo whose ground-truth mask holds
sky is an exterior, one without an interior. In that sample the rule matches what the
photos show (eleven bathrooms; the one skyless photo outdoors is a roofed footbridge, which
the product should treat as a room: nothing to replace), and those photos are what the
listing sample lacks: exteriors without a lawn or a garden (an alley, a fog field, city
blocks, a castle) and rooms shot by others. Each photo is decoded and measured once
(``measure_scene``); the fits then run on the measurements in memory. The sky_masks photos
are dealt into folds as ``bench/fit_sky.py`` deals them (``sky_mask_folds``), so a photo
held out there is held out here too.

Stress figure (not fitted on): ``leafless``, each listing exterior with its greens
desaturated (the same house out of season: a dormant lawn, grey crowns; the crowns keep
their leaf texture, so it is not a garden of bare branches),
classified by the model that did not see its house. A classifier that has learnt "green
means outdoors" fails it; the issue asks for photos nobody tuned to, and a winter listing
is one.

Run: ``python -m lumograph.bench.fit_scene --data ../shared/eval --json out/fit_scene.json``
(about a minute on two cores); add ``--write`` to rewrite ``scene_params.py`` with the
all-data fit.
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import minimize

from lumograph.models.classifier import scene
from lumograph.models.classifier.scene import (
    EXTERIOR_INPUTS,
    FITTED_ROOMS,
    ROOM_INPUTS,
    SceneMeasurements,
    SceneModel,
    classify_measurements,
    exterior_inputs,
    measure_scene,
    room_inputs,
    standardise,
)
from lumograph.models.common.errors import InvalidImage, InvalidOptions

#: Eval file-name label -> (scene, room type).
EVAL_LABELS = {
    "frontal": ("exterior", None),
    "kitchen": ("interior", "kitchen"),
    "bathroom": ("interior", "bathroom"),
    "bedroom": ("interior", "bedroom"),
}
#: sky_masks label (does the ground-truth mask hold sky) -> (scene, room type).
SKY_MASK_LABELS = {
    "sky": ("exterior", None),
    "no_sky": ("interior", None),
}
#: Every label a Photo may carry.
LABELS = {**EVAL_LABELS, **SKY_MASK_LABELS}
#: The stress copies' greens: hue range (degrees) and how much of their saturation goes.
LEAFLESS_HUES = (50.0, 200.0)
LEAFLESS_DESATURATION = 0.85
FOLDS = 5
INNER_FOLDS = 4
L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
#: Exterior model classes, in the order the table stores them.
SCENE_CLASSES = ("interior", "exterior")
#: The command that writes ``scene_params.py`` (quoted in its header).
COMMAND = "python -m lumograph.bench.fit_scene --data ../shared/eval --write"
PARAMS_PATH = Path(scene.__file__).with_name("scene_params.py")


@dataclass(frozen=True)
class Photo:
    """One measured photo. house: the group it is dealt into folds with (the house for a
    listing photo, the photo itself for a sky_masks one); source: "listing" |
    "sky_masks" | "leafless" (a stress copy of a listing exterior)."""

    name: str
    house: str
    label: str
    measurements: SceneMeasurements
    source: str = "listing"

    @property
    def scene(self) -> str:
        return LABELS[self.label][0]

    @property
    def room(self) -> str | None:
        return LABELS[self.label][1]


def house_of(name: str) -> str:
    """``house113`` of ``house113_kitchen.jpg``."""
    return name.split("_", 1)[0]


def labelled_photos(folder: Path) -> list[tuple[Path, str]]:
    """(path, label) of every ``houseN_LABEL.jpg`` with a known label, sorted by name."""
    items = [(p, p.stem.rsplit("_", 1)[-1]) for p in sorted(Path(folder).glob("house*_*.jpg"))]
    return [(p, lab) for p, lab in items if lab in EVAL_LABELS]


def measure_photos(folder: Path, cache: Path | None = None) -> list[Photo]:
    """Measure every labelled photo of ``folder`` (a ``listing_photos`` folder) once.
    cache: a pickle of the measurements, reused when it holds the same file names."""
    items = labelled_photos(folder)
    if not items:
        raise InvalidOptions(f"no houseN_LABEL.jpg listing photos under the folder, got {str(folder)!r}")
    names = [p.name for p, _ in items]
    if cache is not None and cache.exists():
        rows = pickle.loads(cache.read_bytes())  # plain tuples: readable whichever way this ran
        if [r[0] for r in rows] == names:
            return [Photo(*r) for r in rows]
    photos = [Photo(path.name, house_of(path.name), label, measure_scene(_read(path))) for path, label in items]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps([(p.name, p.house, p.label, p.measurements) for p in photos]))
    return photos


def house_folds(houses, k: int) -> dict[str, int]:
    """house -> fold: houses in order of their number, dealt round-robin into ``k`` folds
    (other groups, such as a sky_masks photo, follow in order of their name)."""
    def order(h: str) -> tuple:
        numbered = h.startswith("house") and h[5:].isdigit()
        return (not numbered, int(h[5:]) if numbered else 0, h)

    ordered = sorted(set(houses), key=order)
    return {h: i % k for i, h in enumerate(ordered)}


def sky_mask_folds(with_sky, without_sky, k: int) -> dict[str, int]:
    """name -> fold for the sky_masks photos: those with sky, then those without, each in
    the order given (sorted by name), dealt round-robin (``bench/fit_sky.py`` uses it)."""
    return {name: i % k for i, name in enumerate(list(with_sky) + list(without_sky))}


def _read(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InvalidImage(f"cannot decode eval photo, got {str(path)!r}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def sky_mask_photos(folder: Path) -> list[Photo]:
    """The ADE20K photos of a ``sky_masks`` folder (``NAME.jpg`` + ``NAME.mask.png``), each
    labelled ``sky`` (exterior) when its mask has a pixel >= 128, else ``no_sky``; sorted
    by name. An absent folder gives []."""
    folder = Path(folder)
    photos = []
    for path in sorted(folder.glob("*.jpg")) if folder.is_dir() else ():
        mask = cv2.imread(str(path.with_name(path.stem + ".mask.png")), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            continue
        label = "sky" if bool((mask >= 128).any()) else "no_sky"
        photos.append(Photo(path.stem, path.stem, label, measure_scene(_read(path)), "sky_masks"))
    return photos


def leafless(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with the saturation of its greens (``LEAFLESS_HUES``) cut by
    ``LEAFLESS_DESATURATION``, feathered over a pixel: leaves and lawn lose their green
    (their texture stays); brick, sky, siding and rooms barely change."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hue = hsv[..., 0] * np.float32(360.0 / 256.0)
    green = ((hue >= LEAFLESS_HUES[0]) & (hue <= LEAFLESS_HUES[1])).astype(np.float32)
    green = cv2.GaussianBlur(green, (0, 0), 1.0)
    hsv[..., 1] *= 1.0 - LEAFLESS_DESATURATION * green
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)


def leafless_photos(folder: Path, photos: list[Photo]) -> list[Photo]:
    """Stress copies (``leafless``) of the listing exteriors among ``photos``, read from
    ``folder``; each keeps its house, so the k-fold scores it with the fold's model."""
    return [Photo(p.name, p.house, p.label, measure_scene(leafless(_read(Path(folder) / p.name))), "leafless")
            for p in photos if p.source == "listing" and p.scene == "exterior"]


# ------------------------------------------------------------------------ the fit


def fit_softmax(x: np.ndarray, weight: np.ndarray, y: np.ndarray, n_classes: int, l2: float) -> dict:
    """Multinomial logistic regression with an L2 penalty on the weights.

    x: (n, d) raw inputs; weight: (n, d) multipliers of the standardised inputs (ones, or
    the ground weight); y: (n,) int class indices. Returns ``{"mean", "scale", "coef"
    (d x K), "bias" (K)}`` as float64 arrays: logits = bias + (standardise(x) * weight) @ coef.
    Deterministic: L-BFGS from zeros.
    """
    x = np.asarray(x, np.float64)
    n, d = x.shape
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = standardise(x, mean, scale) * weight
    onehot = np.eye(n_classes)[y]

    def loss(theta: np.ndarray):
        w = theta[: d * n_classes].reshape(d, n_classes)
        b = theta[d * n_classes:]
        s = z @ w + b
        s = s - s.max(axis=1, keepdims=True)
        log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        p = np.exp(log_p)
        value = -(onehot * log_p).sum() + 0.5 * l2 * (w * w).sum()
        grad_s = p - onehot
        grad = np.concatenate([(z.T @ grad_s + l2 * w).ravel(), grad_s.sum(axis=0)])
        return value, grad

    result = minimize(loss, np.zeros(d * n_classes + n_classes), jac=True, method="L-BFGS-B",
                      options={"maxiter": 5000, "gtol": 1e-8})
    theta = result.x
    return {"mean": mean, "scale": scale, "coef": theta[: d * n_classes].reshape(d, n_classes),
            "bias": theta[d * n_classes:]}


def _logits(fit: dict, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return (standardise(x, fit["mean"], fit["scale"]) * weight) @ fit["coef"] + fit["bias"]


def choose_l2(x, weight, y, groups, n_classes: int, grid=L2_GRID, folds: int = INNER_FOLDS) -> float:
    """The penalty of ``grid`` with the most held-out rows right (then the lowest held-out
    log-loss; ties: the larger penalty) in grouped ``folds``-fold cross-validation."""
    fold_of = house_folds(groups, folds)
    fold = np.array([fold_of[g] for g in groups])
    best_key, best_l2 = None, None
    for l2 in grid:
        right, log_loss = 0, 0.0
        for k in range(folds):
            train, test = fold != k, fold == k
            if not test.any() or len(set(y[train])) < 2:
                continue
            fit = fit_softmax(x[train], weight[train], y[train], n_classes, l2)
            s = _logits(fit, x[test], weight[test])
            s = s - s.max(axis=1, keepdims=True)
            log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
            right += int((s.argmax(axis=1) == y[test]).sum())
            log_loss -= float(log_p[np.arange(int(test.sum())), y[test]].sum())
        key = (right, -round(log_loss, 9), l2)
        if best_key is None or key > best_key:
            best_key, best_l2 = key, l2
    return float(best_l2)


def fit_table(x, weight, y, classes, inputs, groups, l2: float | None = None) -> dict:
    """One parameter table (the format ``SceneModel.from_params`` reads), with the
    penalty chosen by ``choose_l2`` unless given."""
    y = np.asarray(y)
    if l2 is None:
        l2 = choose_l2(x, weight, y, list(groups), len(classes))
    fit = fit_softmax(x, weight, y, len(classes), l2)
    return {
        "classes": list(classes), "inputs": list(inputs), "l2": l2, "n": int(len(y)),
        "mean": fit["mean"].tolist(), "scale": fit["scale"].tolist(),
        "coef": fit["coef"].tolist(), "bias": fit["bias"].tolist(),
    }


def design(photos: list[Photo]) -> dict:
    """The two models' inputs, targets and groups for ``photos``."""
    ext = [exterior_inputs(p.measurements.exterior) for p in photos]
    rooms = [p for p in photos if p.room is not None]
    return {
        "exterior": (np.array([e[0] for e in ext]), np.array([e[1] for e in ext]),
                     np.array([SCENE_CLASSES.index(p.scene) for p in photos]), [p.house for p in photos]),
        "room": (np.array([room_inputs(p.measurements.room, p.measurements.layout) for p in rooms]),
                 np.ones((len(rooms), len(ROOM_INPUTS))),
                 np.array([FITTED_ROOMS.index(p.room) for p in rooms]), [p.house for p in rooms]),
    }


def fit_params(photos: list[Photo]) -> dict:
    """Both tables fitted on ``photos``: ``{"exterior": table, "room": table}``."""
    d = design(photos)
    return {
        "exterior": fit_table(*d["exterior"][:3], SCENE_CLASSES, EXTERIOR_INPUTS, d["exterior"][3]),
        "room": fit_table(*d["room"][:3], FITTED_ROOMS, ROOM_INPUTS, d["room"][3]),
    }


# ---------------------------------------------------------------------- the score


def score(photos: list[Photo], model: SceneModel | None = None) -> dict:
    """Accuracy of the classifier under ``model`` (default: the shipped parameters).

    Returns {"n", "exterior_acc" (over all photos), "room_acc" (over true interiors with a
    room label; an interior called exterior counts as wrong), "confusion": {true label:
    {pred: count}} with pred "exterior" for photos called exterior, "errors": [file names]}.
    A photo without a room label (a sky_masks room) is right when its scene is.
    """
    confusion: dict = {}
    scene_ok = room_ok = n_rooms = 0
    errors = []
    for p in photos:
        result = classify_measurements(p.measurements, model)
        pred = "exterior" if result.scene == "exterior" else result.room_type
        confusion.setdefault(p.label, {})
        confusion[p.label][pred] = confusion[p.label].get(pred, 0) + 1
        scene_ok += result.scene == p.scene
        if p.room is not None:
            n_rooms += 1
            room_ok += pred == p.room
        if result.scene != p.scene or (p.room is not None and pred != p.room):
            errors.append(p.name)
    return {
        "n": len(photos),
        "exterior_acc": round(scene_ok / len(photos), 4) if photos else None,
        "room_acc": round(room_ok / n_rooms, 4) if n_rooms else None,
        "confusion": confusion,
        "errors": errors,
    }


def outer_folds(photos: list[Photo], k: int) -> dict[str, int]:
    """group (``Photo.house``) -> fold: listing houses by ``house_folds`` over the listing
    houses alone (as before sky_masks photos joined the fit), sky_masks photos by
    ``sky_mask_folds`` (as ``bench/fit_sky.py``)."""
    listing = house_folds([p.house for p in photos if p.source != "sky_masks"], k)
    sky = [p for p in photos if p.source == "sky_masks"]
    return {**listing, **sky_mask_folds([p.house for p in sky if p.scene == "exterior"],
                                        [p.house for p in sky if p.scene != "exterior"], k)}


def held_out_params(photos: list[Photo], folds: int = FOLDS) -> dict[int, dict]:
    """fold -> parameters fitted (penalty choice included) on the listing and sky_masks
    photos of the other folds (``outer_folds``); stress copies are never fitted on."""
    fold_of = outer_folds(photos, folds)
    fitted = [p for p in photos if p.source != "leafless"]
    return {k: fit_params([p for p in fitted if fold_of[p.house] != k]) for k in range(folds)}


def _share_right(rows: list[tuple[Photo, SceneModel | None]]) -> dict:
    right = [classify_measurements(p.measurements, m).scene == p.scene for p, m in rows]
    return {"n": len(rows), "acc": round(sum(right) / len(rows), 4) if rows else None,
            "errors": [p.name for (p, _), ok in zip(rows, right) if not ok]}


def kfold(photos: list[Photo], folds: int = FOLDS) -> dict:
    """Grouped k-fold (``outer_folds``): each fold scored with parameters re-fitted on the
    others (``held_out_params``).

    Returns {"folds": k, "exterior_acc" / "room_acc": {"mean", "worst", "pooled"} over the
    listing photos, "per_fold": [{"fold", "houses", "n", "exterior_acc", "room_acc", "l2":
    {...}, "errors"}], "sky_masks" and "leafless": {"n", "acc", "errors"} pooled over the
    held-out photos of that source}. "mean" is the mean of the per-fold figures, "pooled"
    the share right over all held-out photos.
    """
    fold_of = outer_folds(photos, folds)
    params = held_out_params(photos, folds)
    models = {k: SceneModel.from_params(v) for k, v in params.items()}
    listing = [p for p in photos if p.source == "listing"]
    per_fold = []
    for k in range(folds):
        test = [p for p in listing if fold_of[p.house] == k]
        s = score(test, models[k])
        per_fold.append({
            "fold": k, "houses": sorted({p.house for p in test}, key=lambda h: int(h[5:])), "n": s["n"],
            "exterior_acc": s["exterior_acc"], "room_acc": s["room_acc"],
            "l2": {"exterior": params[k]["exterior"]["l2"], "room": params[k]["room"]["l2"]},
            "errors": s["errors"],
        })
    n_rooms = [sum(1 for p in listing if fold_of[p.house] == f["fold"] and p.room) for f in per_fold]

    def summary(key: str, weights: list[int]) -> dict:
        values = [f[key] for f in per_fold]
        return {"mean": round(float(np.mean(values)), 4), "worst": round(float(min(values)), 4),
                "pooled": round(float(np.dot(values, weights) / sum(weights)), 4)}

    def held(source: str) -> dict:
        return _share_right([(p, models[fold_of[p.house]]) for p in photos if p.source == source])

    return {
        "folds": folds,
        "exterior_acc": summary("exterior_acc", [f["n"] for f in per_fold]),
        "room_acc": summary("room_acc", n_rooms),
        "per_fold": per_fold,
        "sky_masks": held("sky_masks"),
        "leafless": held("leafless"),
    }


# ------------------------------------------------------------------------- output


def _number(v: float) -> str:
    return repr(float(f"{v:.6g}"))


def _literal(v, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(v, dict):
        inner = ",\n".join(f'{pad}    "{k}": {_literal(x, indent + 4).lstrip()}' for k, x in v.items())
        return f"{pad}{{\n{inner},\n{pad}}}"
    if isinstance(v, (list, tuple)) and v and isinstance(v[0], (list, tuple)):
        rows = ",\n".join(_literal(r, indent + 4) for r in v)
        return f"{pad}[\n{rows},\n{pad}]"
    if isinstance(v, (list, tuple)):
        items = [f'"{x}"' if isinstance(x, str) else _number(x) for x in v]
        lines, line = [], ""
        for item in items:
            if line and len(pad) + 4 + len(line) + len(item) + 2 > 100:
                lines.append(line)
                line = ""
            line += item + ", "
        lines.append(line)
        if len(lines) == 1 and len(pad) + len(lines[0]) < 100:
            return f"{pad}[{lines[0].rstrip(', ')}]"
        body = "\n".join(f"{pad}    {ln.rstrip()}" for ln in lines)
        return f"{pad}[\n{body}\n{pad}]"
    if isinstance(v, str):
        return f'{pad}"{v}"'
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{pad}{int(v)}"
    return pad + _number(v)


def params_source(params: dict, figures: dict) -> str:
    """The text of ``scene_params.py`` for ``params`` (numbers to 6 significant digits)."""
    header = (
        '"""Fitted parameters of the classical scene classifier (``scene.py``).\n\n'
        f"Written by ``{COMMAND}``\n"
        "(``bench/fit_scene.py``); do not edit by hand: re-run it after changing a measurement.\n"
        "Each table: logits = bias + (standardise(inputs) [x ground weight]) @ coef; ``l2`` is the\n"
        "penalty chosen by cross-validation, ``n`` the photos fitted.\n\n"
        f"Fitted on {figures['n']} listing photos (the exterior table also on {figures.get('n_sky_masks', 0)} "
        "sky_masks photos).\n"
        f"At fit time, on the listing photos: all-data exterior_acc {figures['exterior_acc']}, "
        f"room_acc {figures['room_acc']};\n"
        f"{figures['folds']}-fold by house exterior_acc mean {figures['exterior_kfold']['mean']} "
        f"(worst fold {figures['exterior_kfold']['worst']}), room_acc mean {figures['room_kfold']['mean']} "
        f"(worst fold {figures['room_kfold']['worst']}).\n"
        '"""\n\n'
    )
    return header + "PARAMS = " + _literal(params) + "\n"


def rounded_params(params: dict) -> dict:
    """``params`` with every number at the 6 significant digits ``scene_params.py`` keeps."""
    def r(v):
        if isinstance(v, dict):
            return {k: r(x) for k, x in v.items()}
        if isinstance(v, list):
            return [r(x) for x in v]
        if isinstance(v, float):
            return float(f"{v:.6g}")
        return v
    return r(params)


def fit(photos: list[Photo]) -> dict:
    """All-data parameters (fitted on every listing and sky_masks photo) and their figures
    (listing; sky_masks and leafless scenes), and the k-fold figures."""
    params = rounded_params(fit_params([p for p in photos if p.source != "leafless"]))
    model = SceneModel.from_params(params)
    all_data = score([p for p in photos if p.source == "listing"], model)
    for source in ("sky_masks", "leafless"):
        all_data[source] = _share_right([(p, model) for p in photos if p.source == source])
    return {"params": params, "all_data": all_data, "kfold": kfold(photos)}


def eval_photos(data: Path, cache: Path | None = None) -> list[Photo]:
    """Every photo the fit reads under ``data`` (an eval folder holding listing_photos/ and
    optionally sky_masks/, or a listing_photos folder whose sibling sky_masks/ is used):
    the listing photos, the sky_masks photos and the leafless stress copies."""
    data = Path(data)
    listing_dir = data / "listing_photos" if (data / "listing_photos").is_dir() else data
    photos = measure_photos(listing_dir, cache)
    return photos + extra_photos(listing_dir, photos)


def extra_photos(listing_dir: Path, photos: list[Photo]) -> list[Photo]:
    """The photos beside the listing ones: the sky_masks photos of ``listing_dir``'s
    sibling ``sky_masks/`` (none when absent) and the leafless copies of ``photos``'
    exteriors."""
    return sky_mask_photos(Path(listing_dir).parent / "sky_masks") + leafless_photos(listing_dir, photos)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/eval"),
                    help="eval folder holding listing_photos/ (or the listing_photos folder itself)")
    ap.add_argument("--json", type=Path, default=Path("out/fit_scene.json"))
    ap.add_argument("--cache", type=Path, default=None, help="pickle of the measurements, reused when present")
    ap.add_argument("--write", action="store_true", help=f"rewrite {PARAMS_PATH.name} with the all-data fit")
    args = ap.parse_args(argv)
    try:
        photos = eval_photos(args.data, args.cache)
    except InvalidOptions as exc:
        print(exc, file=sys.stderr)
        return 2
    result = fit(photos)
    if args.write:
        figures = {"n": sum(p.source == "listing" for p in photos), "folds": result["kfold"]["folds"],
                   "n_sky_masks": sum(p.source == "sky_masks" for p in photos),
                   "exterior_acc": result["all_data"]["exterior_acc"], "room_acc": result["all_data"]["room_acc"],
                   "exterior_kfold": result["kfold"]["exterior_acc"], "room_kfold": result["kfold"]["room_acc"]}
        PARAMS_PATH.write_text(params_source(result["params"], figures))
        result["shipped"] = {k: result["all_data"][k] for k in ("exterior_acc", "room_acc")}
    else:
        try:  # the parameters shipped now, for comparison
            shipped = score([p for p in photos if p.source == "listing"])
            result["shipped"] = {k: shipped[k] for k in ("exterior_acc", "room_acc")}
        except (ImportError, ValueError) as exc:
            result["shipped"] = {"unavailable": str(exc)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    short = {k: v for k, v in result.items() if k != "params"}
    short["kfold"] = {k: v for k, v in result["kfold"].items() if k != "per_fold"}
    short["kfold"]["per_fold"] = [{k: f[k] for k in ("fold", "exterior_acc", "room_acc", "l2")}
                                  for f in result["kfold"]["per_fold"]]
    print(json.dumps(short, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
