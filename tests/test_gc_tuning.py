"""The start-up objects are frozen out of the garbage collector's reach, once per process."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadbay import gc_tuning

# Run in a fresh interpreter: the test process may have frozen already (any test that started
# an app did), and what is checked is what a server process does from its start.
SERVER_PROCESS = """
import gc, json, weakref
from fastapi.testclient import TestClient
from loadbay.app import create_app

class Node:
    pass

def garbage_cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

before = gc.get_freeze_count()
dead = garbage_cycle()
with TestClient(create_app()) as client:
    after_start = gc.get_freeze_count()
    ok = client.get("/healthz").status_code
with TestClient(create_app()):
    after_second_start = gc.get_freeze_count()
print(json.dumps({
    "before": before,
    "after_start": after_start,
    "after_second_start": after_second_start,
    "garbage_collected": dead() is None,
    "healthz": ok,
}))
"""


def test_a_server_process_freezes_its_start_up_objects_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADBAY_")}
    env["LOADBAY_DATA_DIR"] = str(tmp_path / "var")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", SERVER_PROCESS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == 0
    # Modules, models and routes: far more than a handful of objects.
    assert result["after_start"] > 10_000
    # The second application's start does not freeze again (its objects stay collectable);
    # frozen objects the first one dropped were still freed by reference counting.
    assert result["after_second_start"] <= result["after_start"]
    # Start-up garbage was collected before the freeze, not kept for the process's life.
    assert result["garbage_collected"] is True
    assert result["healthz"] == 200


def test_freeze_happens_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc_tuning, "_frozen", False)
    monkeypatch.setattr(gc_tuning.gc, "collect", lambda: calls.append("collect") or 0)
    monkeypatch.setattr(gc_tuning.gc, "freeze", lambda: calls.append("freeze"))
    assert gc_tuning.freeze_startup_objects() is True
    assert gc_tuning.freeze_startup_objects() is False
    assert calls == ["collect", "freeze"]
    assert gc.isenabled()
