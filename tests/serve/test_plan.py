"""The resource plan check (serve/plan.py), the GPU and KubeRay configs it guards, and the
`lumograph plan check` / `lumograph weights check` commands. No Ray cluster is started.

configs/gpu.yaml is designed for ONE node with 1 GPU and 8 CPUs at max replicas (its
GPU modules at max_replicas 1, the inpainter scaling 0..1): these tests hold it to that,
and hold the KubeRay RayService's serveConfigV2 to the same applications.
"""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from lumograph.serve import cli
from lumograph.serve.plan import PlanDoesNotFit, check_plan, require_plan_fits

ROOT = Path(__file__).resolve().parents[2]
GPU_YAML = ROOT / "configs" / "gpu.yaml"
LOCAL_YAML = ROOT / "configs" / "local.yaml"
RAYSERVICE_YAML = ROOT / "configs" / "kuberay" / "rayservice.yaml"

#: The GPU share per replica that the issue fixes for each learned module.
EXPECTED_GPU = {"Segmenter": 0.25, "Inpainter": 0.5, "WindowDetector": 0.125, "Classifier": 0.125}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _deployment(config: dict, name: str) -> dict:
    return next(d for app in config["applications"] for d in app.get("deployments", []) if d["name"] == name)


def _rayservice() -> tuple[dict, dict]:
    manifest = _load(RAYSERVICE_YAML)
    return manifest, yaml.safe_load(manifest["spec"]["serveConfigV2"])


def _app(deployments: list[dict]) -> dict:
    return {"applications": [{"name": "a", "import_path": "x:y", "route_prefix": None, "deployments": deployments}]}


def _fixed(name: str, num_gpus: float, replicas: int, num_cpus: float = 0.0) -> dict:
    return {"name": name, "num_replicas": replicas, "ray_actor_options": {"num_gpus": num_gpus, "num_cpus": num_cpus}}


# ---------------------------------------------------------------- the configs


@pytest.mark.parametrize("path", [GPU_YAML, LOCAL_YAML], ids=lambda p: p.name)
def test_configs_parse_as_serve_deploy_schema(path):
    ServeDeploySchema.model_validate(_load(path))


def test_gpu_yaml_gives_each_module_its_fraction_and_cpu_modules_none():
    config = _load(GPU_YAML)
    for app in config["applications"]:
        for d in app["deployments"]:
            assert d["ray_actor_options"]["num_gpus"] == EXPECTED_GPU.get(d["name"], 0), d["name"]
            # The jobs ingress's load is the job queue in the database, not its HTTP requests:
            # a fixed number of replicas pull from it (the modules they call autoscale).
            assert d["name"] in ("ModuleDirectory", "RootIngress") or "autoscaling_config" in d \
                or (d["name"] == "JobsIngress" and d["num_replicas"] >= 1), d["name"]
    inpainter = _deployment(config, "Inpainter")
    assert inpainter["autoscaling_config"]["min_replicas"] == 0  # scales to zero
    for name in EXPECTED_GPU:
        d = _deployment(config, name)
        assert d["user_config"]["backend"] == "auto"
        assert d["user_config"]["weights_dir"] == "/srv/lumograph/weights"
        assert d["max_queued_requests"] > 0 and d["max_ongoing_requests"] > 0


def test_gpu_yaml_fits_one_gpu_node_at_max_replicas():
    report = require_plan_fits(_load(GPU_YAML), num_gpus=1, num_cpus=8)
    assert report.fits and report.problems == []
    assert report.needed_worst["GPU"] == 1.0  # exactly one GPU: 0.25 + 0.5 + 0.125 + 0.125
    assert report.needed_worst["CPU"] <= 8
    assert report.needed_at_start["GPU"] == 0.5  # the inpainter starts at zero
    assert len(report.gpu_packing) == 1
    assert sorted(p["deployment"] for p in report.gpu_packing[0]) == sorted(f"modules/{n}" for n in EXPECTED_GPU)


def test_gpu_yaml_is_refused_without_a_gpu_naming_the_gpu_modules():
    report = check_plan(_load(GPU_YAML), num_gpus=0, num_cpus=8)
    assert not report.fits
    named = " ".join(report.problems)
    for name in EXPECTED_GPU:
        assert f"modules/{name}" in named


def test_local_yaml_needs_no_gpu_and_fits_two_cpus():
    report = require_plan_fits(_load(LOCAL_YAML), num_gpus=0, num_cpus=2)
    assert report.needed_worst["GPU"] == 0.0
    assert report.needed_worst["CPU"] <= 2.0
    assert report.gpu_packing == []


def test_rayservice_serves_the_same_applications_as_gpu_yaml():
    manifest, serve_config = _rayservice()
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayService"
    ServeDeploySchema.model_validate(serve_config)
    gpu = _load(GPU_YAML)

    def shape(config):
        return {app["name"]: (app["import_path"], app.get("route_prefix"),
                              {d["name"]: d["ray_actor_options"].get("num_gpus", 0) for d in app["deployments"]})
                for app in config["applications"]}

    assert shape(serve_config) == shape(gpu)
    assert serve_config == gpu  # verbatim copy: one edit, two files


def test_rayservice_cluster_shape_and_plan_fits_its_worker_group():
    manifest, serve_config = _rayservice()
    cluster = manifest["spec"]["rayClusterConfig"]
    head = cluster["headGroupSpec"]
    head_container = head["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head_container["resources"].get("limits", {})
    assert head["rayStartParams"]["num-cpus"] == "0"  # no replicas on the head
    assert any(p["containerPort"] == 8265 for p in head_container["ports"])  # dashboard
    (workers,) = cluster["workerGroupSpecs"]
    spec = workers["template"]["spec"]
    container = spec["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert 1 <= workers["minReplicas"] <= workers["maxReplicas"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "weights")
    assert mount["mountPath"] == "/srv/lumograph/weights" and mount["readOnly"] is True
    volume = next(v for v in spec["volumes"] if v["name"] == "weights")
    assert volume["persistentVolumeClaim"]["claimName"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["LUMOGRAPH_JOBS_DATABASE_URL"] == {"secretKeyRef": {"name": "lumograph-jobs", "key": "database_url"}}
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1" and env["YOLO_OFFLINE"] == "1"
    # Worst case of serveConfigV2 on the worker group at its largest.
    pods = workers["maxReplicas"]
    gpus = pods * container["resources"]["limits"]["nvidia.com/gpu"]
    cpus = pods * float(workers["rayStartParams"]["num-cpus"]) + float(head["rayStartParams"]["num-cpus"])
    assert require_plan_fits(serve_config, num_gpus=gpus, num_cpus=cpus).fits


# ---------------------------------------------------------------- the check itself


def test_oversubscribed_inpainter_is_refused_naming_it():
    config = copy.deepcopy(_load(GPU_YAML))
    inpainter = _deployment(config, "Inpainter")
    inpainter["ray_actor_options"]["num_gpus"] = 0.75
    inpainter["autoscaling_config"]["max_replicas"] = 2
    report = check_plan(config, num_gpus=1, num_cpus=8)
    assert not report.fits
    assert report.needed_worst["GPU"] == 2.0
    with pytest.raises(PlanDoesNotFit) as info:
        require_plan_fits(config, num_gpus=1, num_cpus=8)
    message = str(info.value)
    assert "\n" not in message and "modules/Inpainter" in message
    assert isinstance(info.value, ValueError) and info.value.report.fits is False


def test_two_halves_share_one_gpu_three_do_not():
    assert check_plan(_app([_fixed("Half", 0.5, 2)]), num_gpus=1, num_cpus=1).fits
    report = check_plan(_app([_fixed("Half", 0.5, 3)]), num_gpus=1, num_cpus=1)
    assert not report.fits and "a/Half: replica 3 of 3" in report.problems[0]
    assert check_plan(_app([_fixed("Half", 0.5, 3)]), num_gpus=2, num_cpus=1).fits


def test_fractions_never_split_across_gpus():
    # 3 x 0.6 sums to 1.8 < 2 GPUs, yet only two fit: one per GPU.
    report = check_plan(_app([_fixed("Big", 0.6, 3)]), num_gpus=2, num_cpus=1)
    assert report.needed_worst["GPU"] == 1.8 and not report.fits
    assert "a/Big" in report.problems[0]


def test_first_fit_decreasing_packs_mixed_fractions():
    # 0.5 + 0.3 + 0.3 + 0.2 + 0.2 + 0.5 = 2.0: FFD fills two GPUs exactly.
    deployments = [_fixed("A", 0.5, 2), _fixed("B", 0.3, 2), _fixed("C", 0.2, 2)]
    report = check_plan(_app(deployments), num_gpus=2, num_cpus=1)
    assert report.fits, report.problems
    assert [round(sum(p["num_gpus"] for p in gpu), 4) for gpu in report.gpu_packing] == [1.0, 1.0]


def test_eight_eighths_fill_one_gpu_exactly():
    assert check_plan(_app([_fixed("E", 0.125, 8)]), num_gpus=1, num_cpus=1).fits
    assert not check_plan(_app([_fixed("E", 0.125, 9)]), num_gpus=1, num_cpus=1).fits


def test_whole_gpu_replicas_take_empty_gpus():
    report = check_plan(_app([_fixed("Whole", 1, 1), _fixed("Half", 0.5, 2)]), num_gpus=2, num_cpus=1)
    assert report.fits
    assert check_plan(_app([_fixed("Two", 2, 1)]), num_gpus=2, num_cpus=1).fits
    report = check_plan(_app([_fixed("Two", 2, 1), _fixed("Tiny", 0.1, 1)]), num_gpus=2, num_cpus=1)
    assert not report.fits and "a/Tiny" in report.problems[0]


def test_cpu_oversubscription_names_the_largest_consumer():
    deployments = [_fixed("Small", 0, 1, num_cpus=0.5), _fixed("Hungry", 0, 3, num_cpus=1)]
    report = check_plan(_app(deployments), num_gpus=0, num_cpus=2)
    assert not report.fits and report.problems[0].startswith("a/Hungry: CPU")


def test_autoscaling_counts_max_replicas_and_default_cpu():
    config = _app([{"name": "S", "autoscaling_config": {"min_replicas": 0, "max_replicas": 4}}])
    report = check_plan(config, num_gpus=0, num_cpus=4)
    (demand,) = report.deployments
    assert (demand.replicas_at_start, demand.replicas_worst, demand.num_cpus) == (0, 4, 1.0)
    assert report.fits and not check_plan(config, num_gpus=0, num_cpus=3.5).fits


def test_accepts_schema_and_dict_alike():
    raw = _load(GPU_YAML)
    as_dict = check_plan(raw, num_gpus=1, num_cpus=8).to_dict()
    as_schema = check_plan(ServeDeploySchema.model_validate(raw), num_gpus=1, num_cpus=8).to_dict()
    assert as_dict == as_schema
    json.dumps(as_dict)


# ---------------------------------------------------------------- the commands


def test_plan_check_command_exit_codes(tmp_path, capsys):
    assert cli.main(["plan", "check", str(GPU_YAML), "--gpus", "1", "--cpus", "8"]) == 0
    assert json.loads(capsys.readouterr().out)["fits"] is True
    config = _load(GPU_YAML)
    _deployment(config, "Segmenter")["autoscaling_config"]["max_replicas"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    assert cli.main(["plan", "check", str(bad), "--gpus", "1", "--cpus", "8"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["fits"] is False and "modules/Segmenter" in out["problems"][0]
    (tmp_path / "junk.yaml").write_text("applications: 3\n")
    assert cli.main(["plan", "check", str(tmp_path / "junk.yaml"), "--gpus", "1", "--cpus", "8"]) == 2


def _run_weights_check(weights: Path) -> tuple[int, dict, bool]:
    """Run ``lumograph weights check`` in a fresh interpreter; also report whether torch
    got imported (it must not: the check loads nothing)."""
    code = (
        "import json, sys\n"
        "from lumograph.serve import cli\n"
        f"rc = cli.main(['weights', 'check', {str(weights)!r}])\n"
        "print('TORCH_IMPORTED=' + str('torch' in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    out, _, flag = proc.stdout.rpartition("TORCH_IMPORTED=")
    return proc.returncode, json.loads(out), flag.strip() == "True"


def _by_backend(report: dict) -> dict:
    return {f"{b['module']}/{b['backend']}": b for b in report["backends"]}


def test_weights_check_empty_folder_is_ok_and_loads_nothing(tmp_path):
    rc, report, torch_imported = _run_weights_check(tmp_path)
    assert rc == 0 and report["ok"] is True and not torch_imported
    statuses = {name: b["status"] for name, b in _by_backend(report).items()}
    assert statuses and set(statuses.values()) == {"absent"}
    for module in report["modules"].values():
        # A learned module absent from a checkout is reported, not fatal.
        assert ("describe" in module) if module["available"] else module["error"]


def test_weights_check_partial_folder_exits_1_naming_it(tmp_path):
    (tmp_path / "yolo").mkdir()
    (tmp_path / "yolo" / "classes.json").write_text('["window", "mirror"]')
    rc, report, torch_imported = _run_weights_check(tmp_path)
    backends = _by_backend(report)
    if "window_detector/yolo" not in backends:
        pytest.skip("lumograph.models.window_detector.yolo is not in this checkout")
    assert rc == 1 and not torch_imported
    assert backends["window_detector/yolo"]["status"] == "partial"
    assert backends["window_detector/yolo"]["missing"].endswith("windows.pt")
    assert report["partial"] == ["window_detector/yolo"]


def test_weights_check_complete_backend_is_ok(tmp_path):
    # A checkpoint file is enough for the presence check: nothing is loaded.
    (tmp_path / "yolo").mkdir()
    (tmp_path / "yolo" / "windows.pt").write_bytes(b"not loaded")
    rc, report, _ = _run_weights_check(tmp_path)
    backends = _by_backend(report)
    if "window_detector/yolo" not in backends:
        pytest.skip("lumograph.models.window_detector.yolo is not in this checkout")
    assert rc == 0 and backends["window_detector/yolo"]["status"] == "complete"


def test_weights_check_missing_dir_exits_2(tmp_path, capsys):
    assert cli.main(["weights", "check", str(tmp_path / "nope")]) == 2
