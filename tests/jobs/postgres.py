"""A throwaway PostgreSQL server for the tests, from Debian's ``postgresql`` package.

``.ci/run`` installs the package; on a machine without it the tests that need it skip
with a message saying so. As root the server runs as the ``postgres`` user (initdb
refuses root)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

from lumograph.serve.cluster import free_port


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def missing_reason() -> str | None:
    if not (find_bin("initdb") and find_bin("pg_ctl")):
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's 'postgresql' "
                "package (.ci/run does) to run the PostgreSQL job-store tests")
    if os.geteuid() == 0:
        try:
            subprocess.run(["id", "postgres"], check=True, capture_output=True)
        except (subprocess.CalledProcessError, FileNotFoundError):
            return "running as root and there is no 'postgres' user to run the server as"
    return None


@contextmanager
def postgres_server():
    """Yield a SQLAlchemy URL of a fresh server; stop and delete it afterwards."""
    root = tempfile.mkdtemp(prefix="lg-pg-", dir="/tmp")
    data = os.path.join(root, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(as_user + [find_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--locale=C", "--no-sync"],
                   check=True, capture_output=True, env=env)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(as_user + [find_bin("pg_ctl"), "-D", data, "-o", options, "-l", os.path.join(root, "log"),
                              "-w", "-t", "60", "start"], check=True, capture_output=True, env=env)
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        yield url
    finally:
        subprocess.run(as_user + [find_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, env=env, check=False)
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)
