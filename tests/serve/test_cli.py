"""The ``lumograph`` command: version, schema-derived choices, folders with a progress bar,
the sample photos, and the bench commands arriving through their entry point."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lumograph.serve.cli import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("lumograph ")


def test_options_are_the_schemas_choices_and_limits(capsys):
    parser = build_parser()
    assert parser.parse_args(["process", "a.jpg", "b.jpg", "--marketplace", "etsy"]).marketplace == "etsy"
    with pytest.raises(SystemExit):
        parser.parse_args(["process", "a.jpg", "b.jpg", "--marketplace", "walmart"])
    assert "amazon_jewelry" in capsys.readouterr().err
    enhance_help = build_parser()._subparsers._group_actions[0].choices["enhance"].format_help()
    assert "--window-threshold-stops" in enhance_help and "--sky-style" in enhance_help


def test_bench_commands_come_from_their_entry_point():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"serve", "process", "enhance", "plan", "weights", "eval", "bench", "sample"} <= set(commands)


def test_sample_then_process_a_folder(tmp_path, capsys):
    samples = tmp_path / "samples"
    assert main(["sample", str(samples)]) == 0
    assert {p.name for p in samples.iterdir()} == {"ring.jpg", "kitchen.jpg", "front.jpg", "dark.jpg",
                                                    "mid.jpg", "bright.jpg"}
    photos = tmp_path / "rings"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (photos / name).write_bytes((samples / "ring.jpg").read_bytes())
    (photos / "notes.txt").write_text("not a photo")
    out, reports = tmp_path / "out", tmp_path / "reports"
    capsys.readouterr()
    code = main(["process", str(photos), str(out), "--marketplace", "etsy", "--report", str(reports)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [Path(line["input"]).name for line in lines] == ["a.jpg", "b.jpg"]
    delivered = {line["output"] for line in lines if line["output"]}
    assert code == (0 if len(delivered) == 2 else 3)
    assert {Path(p).name for p in delivered} <= {"a.jpg", "b.jpg"}
    assert {p.name for p in reports.iterdir()} == {"a.json", "b.json"}
