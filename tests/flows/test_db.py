"""The tables on SQLite (the embedded default) and on the machine's PostgreSQL (scale)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from flows.db import create_schema, due_items, make_engine, read_states, set_state, sync_rules
from models.tables import AgendaRow, CommitmentRow, StateChange

SLA = "learning-from-litigation-2018/sla-in-place"
SLA_REVIEW = "learning-from-litigation-2018/sla-annual-review"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    engine = make_engine(url)
    create_schema(engine)
    yield engine
    engine.dispose()


def pending_keys(session: Session, uid: str) -> list[str]:
    rows = session.exec(
        select(AgendaRow).where(AgendaRow.commitment_uid == uid, AgendaRow.status == "pending")
    )
    return sorted(r.key for r in rows)


def test_sync_writes_every_seed_commitment_and_its_agenda(engine, seed_rules):
    with Session(engine) as session:
        counts = sync_rules(session, seed_rules, utc(2018, 2, 1, 9))
        session.commit()
        assert counts["added"] == len(seed_rules.commitments)
        sla = session.get(CommitmentRow, SLA)
        assert (sla.due, sla.window_start, sla.state) == (
            date(2018, 4, 30),
            date(2018, 4, 1),
            "open",
        )
        assert pending_keys(session, SLA)[:3] == [
            f"{SLA}#due@2018-04-30",
            f"{SLA}#escalate@2018-04-30",
            f"{SLA}#invite@2018-04-30",
        ]


def test_a_second_sync_of_unchanged_rules_changes_nothing(engine, seed_rules):
    with Session(engine) as session:
        sync_rules(session, seed_rules, utc(2018, 2, 1, 9))
        session.commit()
        again = sync_rules(session, seed_rules, utc(2018, 2, 2, 9))
        session.commit()
    assert again == {"added": 0, "changed": 0, "agenda": 0, "removed": 0}


def test_tick_selects_everything_due_and_pending_for_one_rule(engine, seed_rules):
    with Session(engine) as session:
        sync_rules(session, seed_rules, utc(2018, 2, 1, 9))
        session.commit()
        due = due_items(session, "report-back-by-date", utc(2018, 3, 29, 8))
        keys = [r.key for r in due if r.commitment_uid == SLA]
    # the invite (30 Jan) and the 28-day reminder (Maundy Thursday) are both due
    assert keys == [f"{SLA}#invite@2018-04-30", f"{SLA}#remind-28d@2018-04-30"]


def test_marking_the_sla_done_stops_its_reminders_and_starts_the_review(engine, seed_rules):
    with Session(engine) as session:
        sync_rules(session, seed_rules, utc(2018, 2, 1, 9))
        session.commit()
        assert pending_keys(session, SLA_REVIEW) == []
        set_state(
            session,
            seed_rules,
            SLA,
            "done",
            who="lo-head",
            why="SLA signed by both",
            now=utc(2018, 4, 20, 10),
            evidence="https://intranet.example/sla-2018.pdf",
        )
        session.commit()
        assert pending_keys(session, SLA) == []
        # the agenda is compiled 400 days ahead of the first sync (to 2019-03-08):
        # the series is live, its first review (20 April 2019) beyond that
        assert pending_keys(session, SLA_REVIEW) == [f"{SLA_REVIEW}#invite@2019-04-20"]
        history = session.exec(select(StateChange).where(StateChange.commitment_uid == SLA)).all()
        assert [(h.state, h.who, h.why, h.at) for h in history] == [
            ("done", "lo-head", "SLA signed by both", utc(2018, 4, 20, 10))
        ]
        assert read_states(session)[SLA].since == utc(2018, 4, 20, 10)


def test_states_of_more_commitments_than_one_statement_can_name(engine, seed_rules):
    # A first catch-up of a large portfolio asks about hundreds of thousands at once;
    # one IN of them all passes SQLite's limit on bound parameters (and PostgreSQL's).
    with Session(engine) as session:
        sync_rules(session, seed_rules, utc(2018, 2, 1, 9))
        set_state(
            session, seed_rules, SLA, "done", who="lo-head", why="signed", now=utc(2018, 4, 20)
        )
        session.commit()
        asked = {SLA, SLA_REVIEW} | {f"not-a-response/c{i}" for i in range(300_000)}
        states = read_states(session, asked)
    assert sorted(states) == [SLA_REVIEW, SLA]
    assert (states[SLA].state, states[SLA].since, states[SLA_REVIEW].state) == (
        "done",
        utc(2018, 4, 20),
        "open",
    )


def test_the_agenda_horizon_moves_on_so_a_series_never_runs_dry(engine, seed_rules):
    with Session(engine) as session:
        sync_rules(session, seed_rules, utc(2018, 2, 1, 9))
        set_state(
            session, seed_rules, SLA, "done", who="lo-head", why="signed", now=utc(2018, 4, 20, 10)
        )
        session.commit()
        # within 60 days of the horizon, the next sync compiles another 400 days
        counts = sync_rules(session, seed_rules, utc(2019, 1, 10, 9))
        session.commit()
        assert counts["agenda"] > 0
        assert pending_keys(session, SLA_REVIEW) == [
            f"{SLA_REVIEW}#due@2019-04-20",
            f"{SLA_REVIEW}#invite@2019-04-20",
            f"{SLA_REVIEW}#remind-28d@2019-04-20",
            f"{SLA_REVIEW}#remind-7d@2019-04-20",
        ]


def test_the_tick_query_uses_the_partial_index_on_sqlite(sqlite_url, seed_rules):
    engine = make_engine(sqlite_url)
    create_schema(engine)
    with engine.connect() as conn:
        plan = conn.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT key FROM agenda_item WHERE rule_id = 'r' "
                "AND status = 'pending' AND at <= '2018-03-01'"
            )
        ).all()
    assert "ix_agenda_pending_due" in " ".join(str(row) for row in plan)
    engine.dispose()
