"""The benchmarks' HTTP client on the clusters they start: a requests session carrying a
key of a ``bench`` tenant, issued in the service database the config points at."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from lumograph.serve import cluster

BENCH_TENANT = "bench"
UNTHROTTLED = {"requests_per_s": 10_000, "requests_burst": 10_000, "images_per_min": 1_000_000,
               "images_burst": 1_000_000, "max_active_jobs": 1_000}


def keyed_session(config: Any, data_dir: str | Path | None = None) -> requests.Session:
    """Point ``config`` at ``data_dir`` (every application: one service database), issue a
    key there and return a session that sends it. The bench tenant's limits are raised out
    of the way (these benches measure the pipeline, not the limiter); every request still
    pays the gate's key lookup and bucket update."""
    from lumograph.access.keys import KeyStore
    from lumograph.jobs.db import open_db
    from lumograph.serve.access import database_url_of

    if data_dir is not None:
        cluster.use_data_dir(config, data_dir)
    store = KeyStore(open_db(database_url_of(cluster.service_data_args(config))))
    token = store.create_key(BENCH_TENANT, "benchmark run").token
    store.set_limits(BENCH_TENANT, UNTHROTTLED)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session
