"""flows.report: the history read back from the database, replayed at two dates, rendered
safely (document text is text), and the static dashboard written to disk.

``record_litigation_history`` is the story the golden files and the browser test use too:
what the department did about the litigation response (seed 000) during 2018.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from flows.db import create_schema, make_engine, set_state, sync_rules
from flows.report import (
    load_history,
    md_escape,
    render_portfolio_markdown,
    render_report,
    write_dashboard,
)
from flows.rulefiles import load_rules
from models.report import build_portfolio, build_report, end_of_day
from models.rules import RuleSet

LIT = "learning-from-litigation-2018"

# (when, commitment, state, why, evidence): all by the Head of Litigation Operations
LITIGATION_2018 = [
    ((2018, 1, 15), "jr-permission-review", "in_progress", "review of JR permissions began", None),
    ((2018, 1, 16), "pap-response-review", "in_progress", "review began with UKVI OASU", None),
    ((2018, 1, 22), "jr-deadlines-review", "in_progress", "cohort of 120 JR cases chosen", None),
    (
        (2018, 3, 28),
        "joint-improvement-plan",
        "done",
        "plan agreed with the Performance and Risk Directorate",
        "https://intranet.example/lo/joint-improvement-plan",
    ),
    (
        (2018, 3, 29),
        "revised-concession-guidance",
        "done",
        "guidance issued",
        "Litigation cost and JR guidance, version 2",
    ),
    ((2018, 4, 20), "jr-permission-review", "done", "review reported to the LO board", None),
    ((2018, 4, 30), "pap-response-review", "done", "findings shared with UKVI", None),
    ((2018, 5, 14), "gld-trial-start", "done", "trial began with 40 PAP letters", None),
    ((2018, 5, 20), "jr-deadlines-review", "done", "review complete", None),
    (
        (2018, 6, 25),
        "sla-in-place",
        "done",
        "signed by both departments, late",
        "https://intranet.example/lo/sla-2018.pdf",
    ),
    (
        (2018, 9, 1),
        "jr-targets-recommendations",
        "superseded",
        "folded into the joint improvement plan (3.4)",
        None,
    ),
    ((2018, 9, 3), "gld-trial", "done", "trial ended; evaluation under way", None),
    ((2018, 10, 1), "gld-intervention-bau", "in_progress", "rolled out to two teams", None),
]


def record_litigation_history(url: str, rules: RuleSet) -> None:
    """Sync the rules into the database at ``url`` and record the 2018 story at fixed times."""
    engine = make_engine(url)
    try:
        create_schema(engine)
        with Session(engine) as session:
            sync_rules(session, rules, datetime(2018, 1, 30, 9, tzinfo=UTC))
            for when, cid, state, why, evidence in LITIGATION_2018:
                set_state(
                    session,
                    rules,
                    f"{LIT}/{cid}",
                    state,
                    who="lo-head",
                    why=why,
                    now=datetime(*when, 10, tzinfo=UTC),
                    evidence=evidence,
                )
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture
def litigation_db(sqlite_url, seed_rules) -> str:
    record_litigation_history(sqlite_url, seed_rules)
    return sqlite_url


def history_of(url: str):
    engine = make_engine(url)
    try:
        return load_history(engine)
    finally:
        engine.dispose()


def test_the_history_comes_back_in_order_and_aware(litigation_db):
    history, replies = history_of(litigation_db)
    assert replies == {}
    review = history[f"{LIT}/jr-permission-review"]
    assert [(e.state, e.at) for e in review] == [
        ("in_progress", datetime(2018, 1, 15, 10, tzinfo=UTC)),
        ("done", datetime(2018, 4, 20, 10, tzinfo=UTC)),
    ]
    assert all(e.at.tzinfo is not None for events in history.values() for e in events)


def test_a_database_with_no_tables_has_no_history(sqlite_url):
    assert history_of(sqlite_url) == ({}, {})


def test_the_2018_view_of_the_litigation_response_differs_from_the_2019_one(
    litigation_db, seed_rules
):
    history, _ = history_of(litigation_db)
    views = {
        year: {
            c.id: c
            for c in build_report(
                seed_rules, LIT, history, end_of_day(date(year, 6, 1))
            ).commitments
        }
        for year in (2018, 2019)
    }
    before, after = views[2018], views[2019]
    assert (before["sla-in-place"].rag, before["sla-in-place"].state) == ("red", "open")
    assert (after["sla-in-place"].rag, after["sla-in-place"].completed) == (
        "green",
        date(2018, 6, 25),
    )
    assert after["sla-in-place"].evidence == "https://intranet.example/lo/sla-2018.pdf"
    assert before["sla-annual-review"].waiting_for == f"{LIT}/sla-in-place"
    assert (after["sla-annual-review"].due, after["sla-annual-review"].rag) == (
        date(2019, 6, 25),
        "amber",
    )
    assert (before["jr-targets-recommendations"].rag, after["jr-targets-recommendations"].rag) == (
        "red",
        "grey",
    )
    assert (before["gld-trial"].due, before["gld-trial"].rag) == (date(2018, 8, 14), "green")
    assert after["gld-intervention-wider-cohort"].rag == "red"  # 2018/19 passed
    reports = [
        build_report(seed_rules, LIT, history, end_of_day(date(year, 6, 1)))
        for year in (2018, 2019)
    ]
    assert [r.summary.split(" of ")[0] for r in reports] == ["2", "3"]
    assert render_report(reports[0]) != render_report(reports[1])


def test_the_portfolio_markdown_counts_and_lists_the_overdue(litigation_db, seed_rules):
    history, _ = history_of(litigation_db)
    text = render_portfolio_markdown(
        build_portfolio(seed_rules, history, end_of_day(date(2018, 6, 1)))
    )
    assert text.startswith("# Promises to the inspectorate, as at 1 June 2018\n")
    assert "sla-in-place (due 2018-04-30)" in text
    assert "| An Inspection of the Home Office Presenting Officer function | 2021-01-11 " in text
    short = render_portfolio_markdown(
        build_portfolio(seed_rules, history, end_of_day(date(2018, 6, 1))), limit=2
    )
    assert "The 2 responses with the most overdue commitments, of 5:" in short
    assert short.count("| An ") == 2
    assert short.rstrip().endswith("And 2 more owners with overdue commitments.")


# -- document text is text ------------------------------------------------------------------

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> [click](javascript:alert(1))'


@pytest.fixture
def evil_rules(rules_dir: Path) -> RuleSet:
    """The seed rules with a recommendation and a quote that carry markup."""
    path = rules_dir / "responses" / "learning-from-litigation-2018.yaml"
    text = path.read_text()
    text = text.replace(
        "      Review the (updated) Service Level Agreement",
        f"      {EVIL} Review the (updated) Service Level Agreement",
    )
    text = text.replace(
        'quote: "an updated Service Level Agreement',
        "quote: '<b>bold</b> & <script>alert(2)</script> an updated Service Level Agreement",
    ).replace('in place by April 2018"', "in place by April 2018'")
    text = text.replace(
        "title: \"An Inspection of the Home Office's Mechanisms",
        "title: \"<i>An</i> Inspection of the Home Office's Mechanisms",
    )
    path.write_text(text)
    rules = load_rules([rules_dir])
    assert rules.ok, rules.errors
    assert "<script>" in rules.commitments[f"{LIT}/sla-in-place"].quote
    return rules


def test_markup_in_documents_is_shown_as_text_in_html(evil_rules, tmp_path):
    portfolio = build_portfolio(evil_rules, {}, end_of_day(date(2018, 6, 1)))
    written = write_dashboard(portfolio, tmp_path / "site")
    report = build_report(evil_rules, LIT, {}, end_of_day(date(2018, 6, 1)))
    pages = [p.read_text() for p in written] + [render_report(report, "html")]
    for page in pages:
        assert "<script" not in page and "<img" not in page and "<b>" not in page
        assert "<i>An</i>" not in page
    page = (tmp_path / "site" / "responses" / f"{LIT}.html").read_text()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&lt;i&gt;An&lt;/i&gt; Inspection" in (tmp_path / "site" / "index.html").read_text()
    assert "&lt;i&gt;An&lt;/i&gt;" in (tmp_path / "site" / "timeline.html").read_text()


def test_markup_in_documents_is_escaped_in_markdown(evil_rules):
    report = build_report(evil_rules, LIT, {}, end_of_day(date(2018, 6, 1)))
    text = render_report(report, "md")
    body = re.sub(r"(?m)^> ", "", text)  # the template's own blockquotes
    assert not re.search(r"(?<!\\)[<>\[\]]", body)  # every bracket from a document is escaped
    assert '\\<script\\>alert("x")\\</script\\>' in text
    assert "\\[click\\](javascript:alert(1))" in text
    assert text.startswith("# Progress report: \\<i\\>An\\</i\\> Inspection")


def test_markdown_escaping_keeps_plain_text_plain():
    assert md_escape("Home Office's SLA & the “GLD”, 2018/19 (paragraph 1.3)") == (
        "Home Office's SLA & the “GLD”, 2018/19 (paragraph 1.3)"
    )
    assert md_escape("a\n\n  b | c") == "a b \\| c"


# -- the static site -------------------------------------------------------------------------


def test_the_dashboard_is_a_folder_of_pages_that_link_to_each_other(seed_rules, tmp_path):
    portfolio = build_portfolio(seed_rules, {}, end_of_day(date(2018, 6, 1)))
    out = tmp_path / "site"
    written = write_dashboard(portfolio, out)
    names = sorted(str(p.relative_to(out)) for p in written)
    assert names == sorted(
        ["index.html", "overdue.html", "timeline.html"]
        + [f"responses/{rid}.html" for rid in seed_rules.responses]
    )
    index = (out / "index.html").read_text()
    for rid in seed_rules.responses:
        assert f'href="responses/{rid}.html"' in index
    page = (out / "responses" / f"{LIT}.html").read_text()
    assert 'href="../index.html"' in page and 'href="../timeline.html"' in page
    for path in written:  # opens from disk: nothing fetched from elsewhere, no script
        html = path.read_text()
        assert "<script" not in html and "http://" not in html.replace(
            'xmlns="http://www.w3.org/2000/svg"', ""
        )
        assert "@media print" in html
    shutil.rmtree(out)


# -- Prefect: the report flow, and check-rule, publish the portfolio summary --------------------

PREFECT_SCRIPT = """
import asyncio, json
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from flows.prefect_flows import check_rule, report

async def latest():
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["duly-portfolio"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
        return {"type": found[0].type, "description": found[0].description,
                "markdown": found[0].data}

summary = report(at="2018-06-01", out=OUT)
first = asyncio.run(latest())
check_rule("report-back-by-date", at="2019-06-01T08:00:00+00:00")
second = asyncio.run(latest())
print("RESULT" + json.dumps({"summary": summary, "first": first, "second": second}))
"""


def test_the_report_flow_and_check_rule_publish_the_portfolio_summary(
    litigation_db, tmp_path, seed_rules
):
    """One subprocess, its own Prefect home: Prefect's temporary server, two flow runs."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT, RULES

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "DULY_"))
    }
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        DULY_RULES=str(RULES),
        DULY_DATABASE_URL=litigation_db,
        DULY_OUTBOX=str(tmp_path / "outbox"),
    )
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-c", f"OUT = {str(site)!r}\n{PREFECT_SCRIPT}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    result = json.loads(line.removeprefix("RESULT"))
    assert result["summary"]["rag"] == {"red": 12, "amber": 1, "green": 20, "grey": 0}
    first, second = result["first"], result["second"]
    assert first["type"] == "markdown"
    assert first["description"] == (
        "Portfolio as at 2018-06-01: 2 of 31 accepted recommendations done; "
        "12 red, 1 amber, 20 green, 0 grey"
    )
    assert first["markdown"].startswith("# Promises to the inspectorate, as at 1 June 2018")
    assert second["description"].startswith("Portfolio as at 2019-06-01: ")  # from check-rule
    assert (site / "index.html").is_file()
    assert len(list((site / "responses").glob("*.html"))) == len(seed_rules.responses)
