"""`duly ingest`, `duly ingest-eval` and `duly validate --strict` from the command line."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from flows.cli import app
from models.dates import parse_period
from tests.conftest import SEEDS

LITIGATION_SEED = SEEDS / "000_9c62264519e45465.txt"
needs_seeds = pytest.mark.skipif(not LITIGATION_SEED.is_file(), reason=f"no seeds at {SEEDS}")


def run(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def load(path: Path):
    return YAML(typ="safe").load(path.read_text())


@needs_seeds
def test_the_litigation_response_drafts_a_valid_rule_file(monkeypatch, rules_dir):
    monkeypatch.chdir(rules_dir.parent)
    out = rules_dir / "responses" / "litigation-draft.yaml"
    code, stdout, stderr = run("ingest", LITIGATION_SEED, "--published", "2018-01-30", "-o", out)
    assert code == 0, stderr
    assert "rec 6 (partially accepted): no date or owner given" in stdout
    assert f"wrote {out}: passes duly validate" in stdout
    code, stdout, stderr = run("validate", "rules")
    assert code == 0, stderr
    assert stdout.startswith("8 files OK")  # the project's seven and the draft
    draft = load(out)
    assert draft["response"]["id"] == "litigation-draft"
    assert draft["response"]["published"] == date(2018, 1, 30)
    (sla,) = [
        c
        for rec in draft["recommendations"]
        for c in rec["commitments"]
        if c["para"] == "1.3" and c["rule"] == "report-back-by-date"
    ]
    assert parse_period(sla["due"]).due == date(2018, 4, 30)
    assert sla["owner"] == "unassigned"
    assert sla["quote"] in LITIGATION_SEED.read_text()
    assert {r["number"]: r["status"] for r in draft["recommendations"]} == {
        "1": "accepted",
        "2": "accepted",
        "3": "accepted",
        "4": "accepted",
        "5": "accepted",
        "6": "partially_accepted",
        "7": "partially_accepted",
    }
    text = out.read_text()
    assert "# no-date: no date or owner given in the response" in text
    assert "# held back (duration, para 5.2)" in text  # a per-case limit, shown, not written


@needs_seeds
def test_strict_validation_fails_on_the_drafts_no_date_flags(monkeypatch, rules_dir):
    monkeypatch.chdir(rules_dir.parent)
    out = rules_dir / "responses" / "litigation-draft.yaml"
    assert run("ingest", LITIGATION_SEED, "--published", "2018-01-30", "-o", out)[0] == 0
    code, _, stderr = run("validate", "--strict", str(out))
    assert code == 1
    assert re.search(
        r"litigation-draft\.yaml:\d+:5: recommendation 6 is partially accepted but has no dated "
        r"commitment",
        stderr,
    )
    text = out.read_text().replace(
        '    status: partially_accepted\n    status_text: "Partially accepted."\n    # no-date',
        '    status: partially_accepted\n    status_text: "Partially accepted."\n'
        "    undated: the response commits to reviewing the process, with no date\n    # no-date",
        1,
    )
    out.write_text(text)
    code, stdout, stderr = run("validate", "--strict", str(out))
    assert code == 0, stderr
    assert stdout.startswith("3 files OK")


def _without_undated_reason(rules_dir, number: str) -> int:
    """Take the undated: reason off one recommendation; return its line number."""
    path = rules_dir / "responses" / "learning-from-litigation-2018.yaml"
    lines = path.read_text().split("\n")
    start = lines.index(f'  - number: "{number}"')
    reason = next(i for i in range(start, len(lines)) if lines[i].startswith("    undated:"))
    del lines[reason]
    path.write_text("\n".join(lines))
    return start + 1


def test_plain_validate_does_not_report_undated_recommendations(monkeypatch, rules_dir):
    line = _without_undated_reason(rules_dir, "4")
    monkeypatch.chdir(rules_dir.parent)
    code, stdout, _ = run("validate", "rules")
    assert code == 0 and "3 warnings" in stdout  # as before --strict existed
    code, _, stderr = run("validate", "--strict", "rules")
    assert code == 1
    assert (
        f"rules/responses/learning-from-litigation-2018.yaml:{line}:5: recommendation 4 is "
        "accepted but has no dated commitment"
    ) in stderr.splitlines()


def test_an_empty_undated_reason_is_an_error(monkeypatch, rules_dir):
    path = rules_dir / "responses" / "learning-from-litigation-2018.yaml"
    text = path.read_text()
    reason = text[text.index("    undated: ") :].split("\n", 1)[0]
    path.write_text(text.replace(reason, '    undated: ""', 1))
    monkeypatch.chdir(rules_dir.parent)
    code, _, stderr = run("validate", "rules")
    assert code == 1
    assert "undated: needs a reason" in stderr


@needs_seeds
def test_without_output_the_draft_goes_to_stdout_and_explain_shows_the_words(tmp_path):
    code, stdout, stderr = run(
        "ingest", SEEDS / "004_c8ecec7b20a2f21b.txt", "--published", "2017-11-30", "--explain"
    )
    assert code == 0, stderr
    draft = YAML(typ="safe").load(stdout)
    assert draft["version"] == 1 and len(draft["recommendations"]) == 7
    assert "We will report back to the ICIBI [by December 2017] on progress" in stderr
    assert "[subject to the wider review of customer service standards]" in stderr


def test_usage_errors(tmp_path):
    doc = tmp_path / "r.txt"
    doc.write_text("Recommendation 1: Do it.\nAccepted. We will do it by May 2019.\n")
    assert run("ingest", doc, "--published", "30/01/2018")[0] == 2
    assert run("ingest", tmp_path / "missing.txt")[0] == 1
    code, _, stderr = run("ingest", doc)
    assert code == 1 and "pass --published" in stderr
    out = tmp_path / "out.yaml"
    out.write_text("keep me")
    code, _, stderr = run("ingest", doc, "--published", "2019-01-01", "-o", out)
    assert code == 1 and "--force" in stderr and out.read_text() == "keep me"
    assert run("ingest", doc, "--published", "2019-01-01", "-o", out, "--force")[0] == 0


def test_a_docx_with_word_numbering_and_a_table(monkeypatch, rules_dir, tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Response to an inspection of asylum casework", 1)
    document.add_paragraph("Published 5 May 2022")
    document.add_heading("Recommendation 1: Reduce the backlog of asylum claims.", 2)
    document.add_paragraph("Accepted.")
    document.add_paragraph(
        "We will recruit 500 decision makers by the end of September 2022.", style="List Number"
    )
    document.add_paragraph("Progress will be reported to the Board monthly.", style="List Number")
    table = document.add_table(rows=1, cols=3)
    for cell, text in zip(
        table.rows[0].cells,
        ["2", "Publish a service standard.", "Partially accepted"],
        strict=True,
    ):
        cell.text = text
    document.add_paragraph("A standard will be published in Spring 2023.")
    path = tmp_path / "response.docx"
    document.save(str(path))
    monkeypatch.chdir(rules_dir.parent)
    out = rules_dir / "responses" / "asylum-casework-draft.yaml"
    code, stdout, stderr = run("ingest", path, "-o", out)
    assert code == 0, stderr
    assert "published 2022-05-05" in stdout
    draft = load(out)
    recs = draft["recommendations"]
    assert [(r["number"], r["status"]) for r in recs] == [
        ("1", "accepted"),
        ("2", "partially_accepted"),
    ]
    assert [c["rule"] for c in recs[0]["commitments"]] == ["report-back-by-date", "monthly-check"]
    assert parse_period(recs[1]["commitments"][0]["due"]).due == date(2023, 5, 31)
    assert run("validate", "rules")[0] == 0


GOVUK_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Response to an inspection of Border Force at Dover - GOV.UK</title>
<meta name="govuk:first-published-at" content="2021-07-15T09:30:00+01:00">
<script>var banner = "by April 2020";</script></head>
<body><header><nav>Cookies on GOV.UK: accept by March 2099</nav></header>
<main><h1>Response to an inspection of Border Force at Dover</h1>
<h2>Recommendation 1: Review the rostering system at Dover.</h2>
<p><strong>Accepted</strong></p>
<p>Border Force will complete a review of rostering by <strong>31 December 2021</strong>.
The review team will meet fortnightly.</p>
<h2>Recommendation 2: Improve the training records.</h2>
<p><strong>Partially accepted</strong></p>
<ol><li>We will audit training records in the first quarter of 2022.</li>
<li>Gaps will be closed within three months of the audit.</li></ol>
</main><footer>Published 2099</footer></body></html>
"""


def test_a_govuk_html_page(monkeypatch, rules_dir, tmp_path):
    path = tmp_path / "response.html"
    path.write_text(GOVUK_PAGE)
    monkeypatch.chdir(rules_dir.parent)
    out = rules_dir / "responses" / "dover-draft.yaml"
    code, _stdout, stderr = run("ingest", path, "-o", out, "--explain")
    assert code == 0, stderr
    draft = load(out)
    assert draft["response"]["published"] == date(2021, 7, 15)
    assert draft["response"]["title"] == "An inspection of Border Force at Dover"
    rec1, rec2 = draft["recommendations"]
    assert [(c["rule"], c.get("due"), c.get("every")) for c in rec1["commitments"]] == [
        ("report-back-by-date", "31 December 2021", None),
        ("monthly-check", None, "fortnightly"),
    ]
    audit, gaps = rec2["commitments"]
    assert parse_period(audit["due"]) == parse_period("Q1 2022")
    assert (gaps["rule"], gaps["duration"], gaps["after"]) == (
        "pilot-lasts-three-months",
        "within three months",
        audit["id"],
    )
    assert "2099" not in out.read_text()  # page chrome is not the response


@needs_seeds
def test_ingest_eval_scores_the_seeds_and_the_baseline():
    golds = sorted(SEEDS.glob("*.gold.yaml"))
    code, stdout, stderr = run("ingest-eval", *golds[:1])
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == "duly ingest"
    assert re.match(r"  all\s+status 100% \(7/7\); recall 1\.00 \(9/9\)", lines[2])
    assert lines[3].startswith("baseline: dateparser.search.search_dates")
    assert re.match(r"  all\s+recall 0\.\d\d", lines[5])
    code, stdout, _ = run("ingest-eval", "--no-baseline", *golds)
    assert code == 0
    total = next(line for line in stdout.splitlines() if line.startswith("  all"))
    figures = re.search(
        r"status (\d+)% .*recall ([\d.]+) .*precision ([\d.]+) .*exact dates ([\d.]+)", total
    )
    assert figures is not None
    status, recall, precision, exact = figures.groups()
    assert int(status) == 100
    assert float(recall) >= 0.95 and float(precision) >= 0.90 and float(exact) >= 0.95
    assert "baseline" not in stdout
