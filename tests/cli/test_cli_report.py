"""`duly report` and `duly dashboard`: golden Markdown reports at two dates, and the site.

The golden files are in tests/golden/. After an intended change to the report, regenerate
them and read the diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/cli/test_cli_report.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT
from tests.flows.test_report import LIT, record_litigation_history

RULES = str(ROOT / "rules")
GOLDEN = ROOT / "tests" / "golden"


def duly(*args: str):
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def check_golden(name: str, text: str) -> None:
    """``text`` must equal tests/golden/<name>, byte for byte (UPDATE_GOLDEN=1 rewrites it)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"the report differs from tests/golden/{name}; if the change is intended, "
        "regenerate with UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.fixture
def litigation_db(sqlite_url, seed_rules) -> str:
    record_litigation_history(sqlite_url, seed_rules)
    return sqlite_url


@pytest.mark.parametrize("day", ["2018-06-01", "2019-06-01"])
def test_the_markdown_report_matches_its_golden_file(litigation_db, day):
    code, stdout, stderr = duly(
        "report", LIT, "--at", day, "--rules", RULES, "--database", litigation_db
    )
    assert (code, stderr) == (0, "")
    check_golden(f"{LIT}@{day}.md", stdout)


def test_the_two_golden_reports_tell_a_year_of_progress():
    before = (GOLDEN / f"{LIT}@2018-06-01.md").read_text()
    after = (GOLDEN / f"{LIT}@2019-06-01.md").read_text()
    assert "Position as at 1 June 2018." in before and "Position as at 1 June 2019." in after
    assert "**Summary:** 2 of 7 accepted recommendations" in before
    assert "**Summary:** 3 of 7 accepted recommendations" in after
    assert "- **RAG:** Red, overdue by 32 days (due 2018-04-30)" in before
    assert "- **RAG:** Green, done on 2018-06-25" in after
    assert "- **Evidence:** https://intranet.example/lo/sla-2018.pdf" in after


def test_html_report_to_a_file(litigation_db, tmp_path):
    out = tmp_path / "report.html"
    code, _, stderr = duly(
        "report",
        LIT,
        "--at",
        "2018-06-01",
        "--format",
        "html",
        "-o",
        str(out),
        "--rules",
        RULES,
        "--database",
        litigation_db,
    )
    assert code == 0, stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert '<span class="rag rag-red">Red</span>' in page
    assert "<nav" not in page  # standalone: no links to a dashboard around it


def test_without_a_database_every_commitment_is_open_and_the_user_is_told(tmp_path):
    code, stdout, stderr = duly(
        "report",
        LIT,
        "--at",
        "2018-06-01",
        "--rules",
        RULES,
        "--database",
        f"sqlite:///{tmp_path / 'none.db'}",
    )
    assert code == 0
    assert "no history, every commitment is shown open" in stderr
    assert "- **State:** Done" not in stdout


def test_an_unknown_response_or_date_is_refused():
    code, _, stderr = duly("report", "learning-from-litigation", "--rules", RULES)
    assert code == 1
    assert "did you mean 'learning-from-litigation-2018'?" in stderr
    code, _, stderr = duly("report", LIT, "--at", "1 June 2018", "--rules", RULES)
    assert code == 2
    assert "--at: expected a date like 2018-06-01" in stderr


def test_duly_dashboard_writes_index_and_one_page_per_response(
    litigation_db, seed_rules, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = duly(
        "dashboard", "--at", "2018-06-01", "--out", "site", "--rules", RULES,
        "--database", litigation_db,
    )  # fmt: skip
    assert code == 0, stderr
    site = Path("site")
    assert (site / "index.html").is_file()
    pages = sorted(p.stem for p in (site / "responses").glob("*.html"))
    assert pages == sorted(seed_rules.responses)
    assert stdout.startswith("dashboard as at 2018-06-01: 8 pages in site ")
