"""Several `duly tick` processes at one instant on PostgreSQL, through one SMTP server.

``tests/flows/test_tick_postgres.py`` checks the seed rules into Maildir outboxes
(a channel that can tell what it already holds). Here the channel is SMTP, which
cannot; there are a hundred-odd messages, so the ticks really contend for the
claims; and ``duly sync`` runs at the same time, once beside the ticks' own sync
and once while they are delivering. A real SMTP server counts every copy.

Afterwards the database is compared with a reference: the same tick, alone, in
this process on SQLite. The deliveries must be the same rows, each sent once;
the agenda up to the instant must have the same steps in the same states.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from flows.db import create_schema, make_engine
from flows.outbox import MaildirOutbox
from flows.rulefiles import load_rules
from flows.tick import tick
from models.tables import AgendaRow, CommitmentRow, Delivery
from tests.faults.portfolio import AT, write_rules
from tests.smtp_server import SmtpServer


def _duly(*args: str, env: dict[str, str], cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _utc(moment: datetime) -> datetime:
    """Naive UTC, whichever way the database gave it back."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _state(engine):
    with Session(engine) as session:
        deliveries = {d.key: d for d in session.exec(select(Delivery)).all()}
        agenda = {(r.key, r.status, _utc(r.at)) for r in session.exec(select(AgendaRow)).all()}
        commitments = {(c.uid, c.state) for c in session.exec(select(CommitmentRow)).all()}
    return deliveries, agenda, commitments


@pytest.mark.postgres
@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_ticks_and_a_sync_send_each_message_once_and_lose_nothing(
    postgres_url, tmp_path, processes
):
    rules_dir = write_rules(tmp_path / "rules", 100)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DULY_")}
    tick_args = ["tick", "--at", AT.isoformat(), "--rules", str(rules_dir)]
    sync_args = ["sync", str(rules_dir)]
    with SmtpServer() as server:
        env["DULY_SMTP_URL"] = server.url
        env["DULY_DATABASE_URL"] = postgres_url
        running = [_duly(*tick_args, env=env, cwd=tmp_path) for _ in range(processes)]
        running.append(_duly(*sync_args, env=env, cwd=tmp_path))  # beside their own sync
        assert server.wait_for(1, timeout=180), [p.communicate() for p in running]
        running.append(_duly(*sync_args, env=env, cwd=tmp_path))  # while they deliver
        outputs = [p.communicate(timeout=300) for p in running]
        codes = [p.returncode for p in running]
        received = server.message_ids()
    assert codes == [0] * len(running), [
        err for (_, err), code in zip(outputs, codes, strict=True) if code
    ]
    engine = make_engine(postgres_url)
    deliveries, agenda, commitments = _state(engine)
    engine.dispose()

    # the reference: the same tick, alone
    rules = load_rules([rules_dir])
    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    create_schema(reference)
    tick(reference, rules, AT, MaildirOutbox(tmp_path / "outbox"))
    ref_deliveries, ref_agenda, ref_commitments = _state(reference)
    reference.dispose()

    instant = _utc(AT)
    horizon = max(at for _, _, at in ref_agenda) - timedelta(days=1)
    due = {(k, st) for k, st, at in agenda if at <= instant}
    print(
        f"\n{processes} ticks and 2 syncs: {len(received)} messages received for "
        f"{len(deliveries)} deliveries ({len(received) - len(set(received))} duplicated, "
        f"{len({d.message_id for d in deliveries.values()} - set(received))} lost); "
        f"agenda: {len(agenda)} steps, the {len(due)} due by the instant in the "
        "reference's states"
    )
    missing = [
        (d.key, d.status, d.last_error)
        for d in deliveries.values()
        if d.message_id not in received
    ]
    assert sorted(received) == sorted(d.message_id for d in deliveries.values()), missing
    assert len(received) == len(set(received)) > 100
    assert set(deliveries) == set(ref_deliveries)
    assert {d.status for d in deliveries.values()} == {"sent"}
    assert commitments == ref_commitments
    # the agenda: what was due by the instant is in the same state, and every step
    # the reference compiled is there (a sync at today's date compiles further ahead)
    assert {k for k, _, at in ref_agenda if at <= horizon} <= {k for k, _, _ in agenda}
    ref_due = {(k, st) for k, st, at in ref_agenda if at <= instant}
    assert due == ref_due, sorted(set(dict(due).items()) - ref_due)


@pytest.mark.postgres
def test_a_check_that_loses_the_race_for_an_invite_leaves_it_enqueued(
    postgres_url, tmp_path, monkeypatch
):
    import flows.tick as tick_module
    from flows.db import sync_rules
    from flows.tick import check_rule, enqueue_released, in_transaction

    rules = load_rules([write_rules(tmp_path / "rules", 3)])
    engine = make_engine(postgres_url)
    create_schema(engine)
    in_transaction(lambda s: sync_rules(s, rules, AT), engine)
    rule = "report-back-by-date"
    in_transaction(lambda s: check_rule(s, rules, rule, AT), engine)
    real = tick_module.register_invites
    raced: list[bool] = []

    def other_process_first(session, *args, **kwargs):
        if not raced:  # B has read its candidates; A enqueues the same steps and commits
            raced.append(True)
            in_transaction(lambda s: enqueue_released(s, rules, AT), engine)
        return real(session, *args, **kwargs)

    monkeypatch.setattr(tick_module, "register_invites", other_process_first)
    in_transaction(lambda s: enqueue_released(s, rules, AT), engine)
    with Session(engine) as session:
        queued = {d.agenda_key for d in session.exec(select(Delivery)).all()}
        rows = {r.key: r for r in session.exec(select(AgendaRow)).all() if r.key in queued}
    engine.dispose()
    invites = {k: (r.status, r.note) for k, r in rows.items() if r.step == "invite"}
    print(f"\ninvite steps with a Delivery, after the race: {sorted(invites.values())[:3]}")
    assert raced and invites
    assert {status for status, _ in invites.values()} == {"enqueued"}
