"""Bulk runs on Ray Data (``jobs/bulk.py``, ``lumograph batch``): every photo gets a row, a
broken file is an ``error`` row, and a second run resumes instead of redoing work.

One local Ray for the module (2 CPUs, small object store); each run builds one actor.
"""
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from lumograph.bench.synthetic import ring_photo
from lumograph.jobs.bulk import (
    MANIFEST_NAME,
    REPORT_NAME,
    is_finished,
    output_stems,
    read_manifest,
    run_bulk,
)
from lumograph.jobs.storage import Storage
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.imageio import decode_image, encode_image
from lumograph.serve.cli import main
from lumograph.serve.schemas import LightboxOptions

pytestmark = pytest.mark.timeout(300)

OPTIONS = LightboxOptions().model_dump(mode="json")
#: Six rings (two in a subfolder) and one file of random bytes named like a photo.
PHOTOS = ["ring_0.jpg", "ring_1.jpg", "ring_2.png", "ring_3.jpg", "sub/ring_4.jpg", "sub/ring_5.jpg"]
BROKEN = "broken.jpg"


@pytest.fixture(scope="module")
def ray_session():
    import ray

    if ray.is_initialized():  # another module's cluster: use it, leave it running
        yield
        return
    temp_dir = tempfile.mkdtemp(prefix="lg-ray-", dir="/tmp")
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             _temp_dir=temp_dir)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("in")
    for i, name in enumerate(PHOTOS):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        rgb = ring_photo(800, 600, seed=i, with_chain=True).rgb
        path.write_bytes(encode_image(rgb, "png" if name.endswith(".png") else "jpeg", quality=92))
    (folder / BROKEN).write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return folder


@pytest.fixture(scope="module")
def first_run(ray_session, photo_folder, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("out")
    return run_bulk(str(photo_folder), str(out), "jewelry", OPTIONS, progress=False), out


def _copy_of(out: Path, tmp_path: Path) -> Path:
    """The first run's OUT, copied with its files' times (each test resumes its own copy)."""
    return Path(shutil.copytree(out, tmp_path / "out"))


def _outputs(out: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in out.rglob("*") if p.is_file() and p.name not in (MANIFEST_NAME, REPORT_NAME)}


def _rows(report: dict) -> dict[str, dict]:
    return {row["input"]: row for row in report["items"]}


def test_first_run_gives_every_photo_a_row_and_the_broken_file_its_decode_error(first_run):
    report, out = first_run
    rows = _rows(report)
    assert sorted(rows) == sorted(PHOTOS + [BROKEN])
    assert report["run"]["photos"] == len(PHOTOS) + 1
    broken = rows[BROKEN]
    assert (broken["state"], broken["error"], broken["output"]) == ("error", "invalid_image", None)
    assert report["errors"] == {"invalid_image": 1}
    for name in PHOTOS:
        row = rows[name]
        assert row["state"] == "done", row
        # OUT/<relative path stem><ext>: the subfolder kept, the PNG input delivered as JPEG.
        assert row["output"] == name.rsplit(".", 1)[0] + ".jpg"
        rgb = decode_image((out / row["output"]).read_bytes()).rgb
        assert rgb.ndim == 3 and min(rgb.shape[:2]) >= 300
        assert rgb[:10, :10].min() >= 250  # a lightbox image: white background
        assert row["report"]["verdict"] == row["verdict"]
        assert row["seconds"] > 0
    assert report["states"]["done"] == len(PHOTOS) and report["billable"] == len(PHOTOS)
    assert report["photos_per_minute"] > 0 and report["item_seconds"]["p95"] >= report["item_seconds"]["p50"]
    assert json.loads((out / REPORT_NAME).read_text())["items"] == report["items"]
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == len(PHOTOS) + 1


def test_second_run_skips_every_finished_photo_and_touches_no_output(first_run, tmp_path):
    out = _copy_of(first_run[1], tmp_path)
    before = _outputs(out)
    report = run_bulk(str(Path(first_run[0]["input"])), str(out), "jewelry", OPTIONS, progress=False)
    assert report["run"]["photos"] == 0 and report["run"]["skipped"] == len(PHOTOS) + 1
    assert _outputs(out) == before
    assert report["states"] == first_run[0]["states"]  # the totals still cover every photo


def test_a_deleted_output_is_made_again_and_only_that_one(first_run, tmp_path):
    out = _copy_of(first_run[1], tmp_path)
    (out / "sub/ring_4.jpg").unlink()
    before = _outputs(out)
    report = run_bulk(first_run[0]["input"], str(out), "jewelry", OPTIONS, progress=False)
    assert report["run"]["photos"] == 1 and report["run"]["states"] == {"done": 1}
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == len(PHOTOS) + 2 and json.loads(lines[-1])["input"] == "sub/ring_4.jpg"
    assert decode_image((out / "sub/ring_4.jpg").read_bytes()).rgb.shape[2] == 3
    after = _outputs(out)
    assert {k: v for k, v in after.items() if k != "sub/ring_4.jpg"} == before
    assert read_manifest(Storage(str(out)))["sub/ring_4.jpg"]["state"] == "done"


def test_error_rows_run_again_only_with_retry_failed(first_run, tmp_path):
    out = _copy_of(first_run[1], tmp_path)
    before = _outputs(out)
    report = run_bulk(first_run[0]["input"], str(out), "jewelry", OPTIONS, progress=False, retry_failed=True)
    assert report["run"]["photos"] == 1 and report["run"]["states"] == {"error": 1}
    assert _outputs(out) == before
    lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert [row["input"] for row in lines].count(BROKEN) == 2  # appended, never rewritten
    assert [row["input"] for row in report["items"]].count(BROKEN) == 1  # the latest row counts


def test_limit_runs_that_many_and_leaves_the_rest_pending(ray_session, photo_folder, tmp_path):
    report = run_bulk(str(photo_folder), str(tmp_path / "out"), "jewelry", OPTIONS, progress=False, limit=2)
    assert report["run"]["photos"] == 2 and report["pending"] == len(PHOTOS) + 1 - 2
    # Sorted order: the broken file and the first ring.
    assert sorted(_rows(report)) == [BROKEN, "ring_0.jpg"]


def test_cli_batch_runs_with_an_options_file(ray_session, photo_folder, tmp_path, capsys):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in PHOTOS[:2]:
        shutil.copy(photo_folder / name, folder / name)
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"marketplace": "etsy", "format": "png", "size": 800}))
    out = tmp_path / "out"
    code = main(["batch", str(folder), str(out), "--vertical", "jewelry", "--options", str(options),
                 "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "ran 2" in printed and "photos/minute" in printed and str(out / REPORT_NAME) in printed
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["options"]["marketplace"] == "etsy" and report["states"] == {"done": 2}
    for name in PHOTOS[:2]:
        rgb = decode_image((out / name.replace(".jpg", ".png")).read_bytes()).rgb
        assert rgb.shape[:2] == (800, 800)


def test_cli_batch_refuses_an_invalid_options_file_with_the_schema_message(photo_folder, tmp_path, capsys):
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"marketplace": "amazon", "quality": 5}))
    code = main(["batch", str(photo_folder), str(tmp_path / "out"), "--vertical", "jewelry", "--options", str(options)])
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert code == 2 and error["code"] == "invalid_options"
    assert "quality" in error["message"] and "greater than or equal to 60" in error["message"]
    assert not (tmp_path / "out").exists()


def test_cli_batch_refuses_a_missing_input_folder(tmp_path, capsys):
    code = main(["batch", str(tmp_path / "nowhere"), str(tmp_path / "out"), "--vertical", "listing"])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_resume_rules():
    outputs = {"a.jpg"}
    assert is_finished({"state": "done", "output": "a.jpg"}, outputs, retry_failed=True)
    assert not is_finished({"state": "done", "output": "b.jpg"}, outputs, retry_failed=False)
    for state in ("error", "rejected"):
        assert is_finished({"state": state, "output": None}, outputs, retry_failed=False)
        assert not is_finished({"state": state, "output": None}, outputs, retry_failed=True)
    assert not is_finished(None, outputs, retry_failed=False)


def test_output_names_keep_apart_inputs_that_share_a_stem():
    assert output_stems(["a.jpg", "a.png", "b.jpg", "x/a.jpg"]) == {
        "a.jpg": "a.jpg", "a.png": "a.png", "b.jpg": "b", "x/a.jpg": "x/a"}


def test_a_manifest_line_cut_by_a_killed_run_is_skipped(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"input": "a.jpg", "state": "done", "output": "a.jpg"})
                                          + "\n" + '{"input": "b.jpg", "sta')
    assert list(read_manifest(Storage(str(tmp_path)))) == ["a.jpg"]


def test_outputs_inside_the_input_folder_are_never_inputs(photo_folder, tmp_path):
    """OUT inside IN: a finished run's outputs are not listed as new photos (no Ray needed:
    every photo is already in the manifest)."""
    folder = Path(shutil.copytree(photo_folder, tmp_path / "in"))
    out = folder / "out"
    out.mkdir()
    rows = [{"input": name, "state": "error", "output": None, "seconds": 0.1} for name in PHOTOS + [BROKEN]]
    (out / MANIFEST_NAME).write_text("".join(json.dumps(r) + "\n" for r in rows))
    shutil.copy(photo_folder / PHOTOS[0], out / "stray.jpg")
    report = run_bulk(str(folder), str(out), "jewelry", OPTIONS, progress=False)
    assert report["photos_listed"] == len(PHOTOS) + 1 and report["run"]["photos"] == 0


def test_a_resume_with_other_options_is_refused_naming_them(first_run, tmp_path):
    out = _copy_of(first_run[1], tmp_path)
    before = _outputs(out)
    with pytest.raises(InvalidOptions, match="fill_ratio"):
        run_bulk(first_run[0]["input"], str(out), "jewelry", {**OPTIONS, "fill_ratio": 0.9}, progress=False)
    with pytest.raises(InvalidOptions, match="vertical"):
        run_bulk(first_run[0]["input"], str(out), "listing", OPTIONS, progress=False)
    assert _outputs(out) == before
