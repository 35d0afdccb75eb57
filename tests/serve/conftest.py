"""One real local Ray cluster for the whole Serve test run, deployed from configs/local.yaml."""
import shutil
import tempfile

import pytest
import requests

from lumograph.serve import cluster
from lumograph.serve.cluster import free_port
from tests.serve.http import TENANT, api

#: The jobs app's data folder for the test run (its database and storage).
JOBS_DATA = tempfile.mkdtemp(prefix="lg-jobs-", dir="/tmp")
#: A short lease: the restart test waits for a killed replica's lease to run out.
JOBS_LEASE_S = 3.0


@pytest.fixture(scope="session")
def serve_url():
    temp_dir = tempfile.mkdtemp(prefix="lg-ray-", dir="/tmp")
    port = free_port()
    config = cluster.load_serve_config(cluster.DEFAULT_CONFIG, http_port=port)
    cluster.use_data_dir(config, JOBS_DATA)
    jobs = next(app for app in config.applications if app.name == "jobs")
    jobs.args = {**jobs.args, "lease_s": JOBS_LEASE_S, "allow_private_callbacks": True}
    api.headers["Authorization"] = f"Bearer {cluster.issue_key(config, TENANT, 'the test run')}"
    cluster.start_ray(num_cpus=2, object_store_mb=200, dashboard=False, temp_dir=temp_dir, config=config)
    try:
        cluster.deploy_config(config, timeout_s=240)
        url = f"http://127.0.0.1:{port}"
        # The first request may wait for the modules app's replicas.
        requests.get(f"{url}/jewelry/healthz", timeout=120)
        yield url
    finally:
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
        shutil.rmtree(JOBS_DATA, ignore_errors=True)
