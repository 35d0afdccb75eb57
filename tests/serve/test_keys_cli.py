"""``lumograph keys``: create (shown once), list (never the secret), revoke, limits (validated),
disable, usage; and ``lumograph serve``'s first-start key."""
import json
import os
import stat

from lumograph.access.keys import KeyStore
from lumograph.jobs.db import open_db, sqlite_url
from lumograph.serve.cli import main
from lumograph.serve.keys_cli import LOCAL_KEY_FILE, ensure_local_key


def run(capsys, tmp_path, *argv) -> tuple[int, str, str]:
    code = main(["keys", "--data-dir", str(tmp_path), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_revoke(capsys, tmp_path):
    code, out, err = run(capsys, tmp_path, "create", "--tenant", "acme", "--name", "ci")
    created = json.loads(out)
    assert code == 0 and created["key"].startswith(f"lg_{created['id']}_") and "only now" in err
    code, out, _ = run(capsys, tmp_path, "list", "--tenant", "acme")
    listed = json.loads(out)
    assert code == 0 and [k["id"] for k in listed] == [created["id"]]
    assert created["key"].split("_", 2)[2] not in out
    assert run(capsys, tmp_path, "revoke", created["id"])[0] == 0
    assert run(capsys, tmp_path, "revoke", created["id"])[0] == 1
    store = KeyStore(open_db(sqlite_url(tmp_path)))
    assert store.lookup(created["key"]).revoked


def test_limits_are_validated_and_reset(capsys, tmp_path):
    run(capsys, tmp_path, "create", "--tenant", "acme")
    code, out, _ = run(capsys, tmp_path, "limits", "acme", "--requests-per-s", "2", "--images-burst", "10")
    assert code == 0 and json.loads(out)["overrides"] == {"requests_per_s": 2.0, "images_burst": 10}
    code, _, err = run(capsys, tmp_path, "limits", "acme", "--requests-per-s", "-1")
    assert code == 2 and "requests_per_s" in err
    code, out, _ = run(capsys, tmp_path, "limits", "acme", "--reset")
    assert code == 0 and json.loads(out)["overrides"] is None
    assert run(capsys, tmp_path, "limits", "nobody", "--requests-per-s", "1")[0] == 1
    assert run(capsys, tmp_path, "disable", "acme")[0] == 0
    code, out, _ = run(capsys, tmp_path, "usage", "acme")
    assert json.loads(out)["today"] == {"requests": 0, "images": 0, "bytes_in": 0}


def test_first_start_makes_one_local_key_in_a_private_file(tmp_path):
    url = sqlite_url(tmp_path)
    key, path = ensure_local_key(url, tmp_path)
    assert path == tmp_path / LOCAL_KEY_FILE and path.read_text().strip() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert KeyStore(open_db(url)).lookup(key).tenant == "local"
    assert ensure_local_key(url, tmp_path) is None  # the second start keeps the first key
