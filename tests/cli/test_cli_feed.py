"""`duly feed OWNER` and `duly feed --all --out DIR`: subscribable calendars per owner."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import recurring_ical_events
from icalendar import Calendar
from typer.testing import CliRunner

from flows.cli import app
from models.invite import invite_uid
from tests.conftest import ROOT
from tests.flows.test_feed import LEAP, LEAP_RESPONSE, LO_HEAD_OPEN, SLA, SLA_REVIEW

RULES = str(ROOT / "rules")
OWNERS = (
    "aic-head, alar-director, appeals-ops-head, ie-director, lo-director, lo-head, "
    "removals-casework-head, sru-head, status-sro, ukvi-director"
)


def duly(*args: str):
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    return result.exit_code, result.stdout_bytes, result.stderr


def parse(data: bytes) -> Calendar:
    cal = Calendar.from_ical(data)
    assert isinstance(cal, Calendar)
    assert not cal.errors and all(not c.errors for c in cal.walk())
    return cal


def uids(data: bytes) -> set[str]:
    return {str(e["UID"]) for e in parse(data).walk("VEVENT")}


def test_feed_of_one_owner_goes_to_stdout_and_says_all_open_without_a_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    code, stdout, stderr = duly(
        "feed", "lo-head", "--rules", RULES, "--database", url, "--at", "2018-02-01T09:00"
    )
    assert code == 0
    assert stderr == f"no database at {url}: every commitment is taken as open\n"
    cal = parse(stdout)
    assert "METHOD" not in cal
    assert uids(stdout) == {invite_uid(u) for u in LO_HEAD_OPEN}
    stamps = {e["DTSTAMP"].dt for e in cal.walk("VEVENT")}
    assert stamps == {datetime(2018, 2, 1, 9, 0, tzinfo=UTC)}  # 09:00 London in winter
    assert not (tmp_path / "none.db").exists()


def test_at_a_date_stamps_the_end_of_that_london_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    code, stdout, _ = duly(
        "feed", "lo-head", "--rules", RULES, "--database", url, "--at", "2018-06-01"
    )
    assert code == 0
    stamps = {e["DTSTAMP"].dt for e in parse(stdout).walk("VEVENT")}
    assert stamps == {datetime(2018, 6, 1, 22, 59, 59, tzinfo=UTC)}


def test_unknown_owner_is_an_error_naming_the_owners_and_writes_nothing(tmp_path):
    out = tmp_path / "feeds"
    code, stdout, stderr = duly("feed", "lo-haed", "--rules", RULES, "--out", str(out))
    assert (code, stdout) == (2, b"")
    assert stderr == (f"no owner 'lo-haed' (did you mean 'lo-head'?); the owners are: {OWNERS}\n")
    assert not out.exists()
    code, _, stderr = duly("feed", "zzz", "--rules", RULES)
    assert code == 2
    assert stderr == f"no owner 'zzz'; the owners are: {OWNERS}\n"


def test_owner_and_all_go_one_at_a_time_and_all_needs_a_folder(tmp_path):
    for args in ([], ["lo-head", "--all", "--out", str(tmp_path)]):
        code, stdout, stderr = duly("feed", *args, "--rules", RULES)
        assert (code, stdout) == (2, b"")
        assert stderr == "give one OWNER, or --all with --out DIR\n"
    code, _, stderr = duly("feed", "--all", "--rules", RULES)
    assert (code, stderr) == (2, "--all writes one file per owner: give --out DIR\n")
    code, _, stderr = duly("feed", "lo-head", "--rules", RULES, "--at", "1 May")
    assert code == 2
    assert stderr.startswith("--at: expected a date like 2018-06-01")


def test_all_writes_one_file_per_owner_named_by_id(tmp_path):
    out = tmp_path / "feeds"
    url = f"sqlite:///{tmp_path / 'none.db'}"
    at = ("--at", "2018-02-01")
    code, stdout, _ = duly(
        "feed", "--all", "--out", str(out), "--rules", RULES, "--database", url, *at
    )
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{o}.ics" for o in OWNERS.split(", "))
    lines = stdout.decode().splitlines()
    assert f"{out / 'lo-head.ics'}: {len(LO_HEAD_OPEN)} events" in lines
    assert f"{out / 'lo-director.ics'}: 0 events" in lines
    _, single, _ = duly("feed", "lo-head", "--rules", RULES, "--database", url, *at)
    assert (out / "lo-head.ics").read_bytes() == single
    code, _, _ = duly("feed", "--all", "--out", str(out), "--rules", RULES, "--database", url, *at)
    assert code == 0 and sorted(p.name for p in out.iterdir()) == names  # no leftovers


def test_a_done_commitment_disappears_from_its_owners_feed(tmp_path):
    url = f"sqlite:///{tmp_path / 'duly.db'}"
    code, _, stderr = duly("sync", RULES, "--database", url)
    assert (code, stderr) == (0, "")
    code, before, stderr = duly("feed", "lo-head", "--rules", RULES, "--database", url)
    assert (code, stderr) == (0, "")
    assert invite_uid(SLA) in uids(before)
    assert invite_uid(SLA_REVIEW) not in uids(before)

    code, _, stderr = duly(
        "mark", SLA, "done", "--why", "signed by both", "--rules", RULES, "--database", url
    )
    assert (code, stderr) == (0, "")
    code, after, stderr = duly("feed", "lo-head", "--rules", RULES, "--database", url)
    assert (code, stderr) == (0, "")
    assert invite_uid(SLA) not in uids(after)
    # ... and the annual review it waited for now has its series, from a year on.
    assert uids(after) - uids(before) == {invite_uid(SLA_REVIEW)}
    review = next(
        e for e in parse(after).walk("VEVENT") if str(e["UID"]) == invite_uid(SLA_REVIEW)
    )
    assert review["DTSTART"].dt.year == datetime.now(UTC).year + 1


def test_a_database_that_cannot_be_read_is_an_error_not_all_open(tmp_path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a SQLite file" * 100)
    code, stdout, stderr = duly(
        "feed", "lo-head", "--rules", RULES, "--database", f"sqlite:///{broken}"
    )
    assert (code, stdout) == (1, b"")
    assert stderr.startswith(f"cannot read commitment states from sqlite:///{broken}: ")


def test_29_february_series_from_a_rules_folder(rules_dir: Path, tmp_path):
    (rules_dir / "responses" / "leap-day-2024.yaml").write_text(LEAP_RESPONSE, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'none.db'}"
    code, stdout, _ = duly("feed", "lo-director", "--rules", str(rules_dir), "--database", url)
    assert code == 0
    shown = recurring_ical_events.of(parse(stdout)).between(date(2027, 1, 1), date(2029, 1, 1))
    assert [(str(e["UID"]), e.start) for e in shown] == [
        (invite_uid(LEAP), date(2027, 2, 28)),
        (invite_uid(LEAP), date(2028, 2, 29)),
    ]


def test_rules_with_errors_write_no_feed(rules_dir: Path, tmp_path):
    (rules_dir / "owners.yaml").write_text("version: 1\nowners: [{id: x}]\n", encoding="utf-8")
    out = tmp_path / "feeds"
    code, stdout, stderr = duly("feed", "--all", "--out", str(out), "--rules", str(rules_dir))
    assert (code, stdout) == (1, b"")
    assert stderr.rstrip().endswith("the rules have errors; run duly validate")
    assert not out.exists()
