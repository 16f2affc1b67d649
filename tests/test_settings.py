"""Settings: every field documented, env vars read, defaults derived from the data dir."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadbay.settings import Settings

DOCS = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    documented = set(re.findall(r"`(LOADBAY_[A-Z0-9_]+)`", text))
    expected = {f"LOADBAY_{name.upper()}" for name in Settings.model_fields}
    missing = expected - documented
    assert not missing, f"settings missing from docs/configuration.md: {sorted(missing)}"


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOADBAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOADBAY_MAX_RECORDS", "5")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.max_records == 5
    assert settings.metadata_url() == f"sqlite:///{tmp_path / 'loadbay.sqlite'}"
    assert settings.target_url() == f"sqlite:///{tmp_path / 'data.sqlite'}"


def test_invalid_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADBAY_MAX_RECORDS", "0")
    with pytest.raises(ValueError, match="max_records"):
        Settings()


def test_bulk_loads_are_off_into_the_metadata_stores_own_sqlite_file(tmp_path: Path) -> None:
    """A bulk load holds the SQLite write lock for the whole load; in the metadata store's
    own file it would hold up the import's progress writes, so such loads stage."""
    assert Settings(data_dir=tmp_path).bulk_loads()
    shared = f"sqlite:///{tmp_path / 'one.sqlite'}"
    assert not Settings(database_url=shared, target_database_url=shared).bulk_loads()
    assert not Settings(data_dir=tmp_path, bulk_load_empty_tables=False).bulk_loads()
    postgres = "postgresql://u@h/db"
    assert Settings(database_url=postgres, target_database_url=postgres).bulk_loads()
