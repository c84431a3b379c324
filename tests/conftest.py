"""Shared fixtures: the project's own rule files, a copy to break, fixed clocks, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
SEEDS = ROOT.parent / "shared" / "seeds"
POSTGRES_URL = os.environ.get(
    "DULY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


LINK_KEY = "duly-tests-link-key-not-a-secret"


@pytest.fixture(autouse=True)
def _fixed_link_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test signs action links with one known key, so messages are byte-for-byte
    reproducible and no test writes a key file beside the repository's database."""
    if not os.environ.get("DULY_SECRET_KEY"):
        monkeypatch.setenv("DULY_SECRET_KEY", LINK_KEY)


@pytest.fixture(scope="session")
def seed_rules():
    """The rule set in rules/: the five seed responses, the policies and the owners."""
    from flows.rulefiles import load_rules

    rules = load_rules([RULES])
    assert rules.ok, "\n".join(str(p) for p in rules.errors)
    return rules


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A private copy of rules/ that a test may break."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


@pytest.fixture
def now() -> datetime:
    """'Today' for tests: 1 February 2018, 09:00 UTC (the seed responses are fresh)."""
    return datetime(2018, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'duly.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the machine's PostgreSQL, dropped afterwards.

    Skips, loudly, where no server answers; on the project's machines one does.
    """
    from sqlalchemy import create_engine, text

    base = "postgresql+psycopg://" + POSTGRES_URL.split("://", 1)[1]
    schema = f"duly_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(
            f"PostgreSQL NOT TESTED: cannot reach {POSTGRES_URL} ({exc}); set "
            "DULY_TEST_POSTGRES_URL to a server to run the scale-path tests"
        )
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
