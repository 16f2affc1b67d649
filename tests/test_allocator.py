"""polars' jemalloc is configured by loadbay's package import (see loadbay/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

_SHOW = "import loadbay, os; print(os.environ['_RJEM_MALLOC_CONF'])"


def conf_after_import(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    done = subprocess.run(
        [sys.executable, "-c", _SHOW],
        capture_output=True,
        text=True,
        check=True,
        env={**clean, **env},
    )
    return done.stdout.strip()


def test_importing_loadbay_gives_polars_one_arena() -> None:
    assert conf_after_import() == "narenas:1"


def test_the_operators_setting_wins() -> None:
    assert conf_after_import(_RJEM_MALLOC_CONF="narenas:8") == "narenas:8"
