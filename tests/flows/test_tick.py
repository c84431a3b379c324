"""`duly tick`: replaying the seed responses, exactly once, catching up, retrying."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from flows.db import create_schema, make_engine, set_state
from flows.links import action_links
from flows.outbox import ChannelError, MaildirOutbox
from flows.tick import (
    LEASE,
    RELEASED,
    _claim,
    check_rule,
    deliver,
    enqueue_released,
    in_transaction,
    sync,
    tick,
)
from models.tables import AgendaRow, CommitmentRow, Delivery, SyncMark

LONDON = ZoneInfo("Europe/London")
SLA = "learning-from-litigation-2018/sla-in-place"


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def outbox(tmp_path: Path) -> MaildirOutbox:
    return MaildirOutbox(tmp_path / "outbox")


def sent_keys(engine) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.status == "sent")).all()
        return sorted(d.agenda_key for d in rows)


SLA_REMINDER = """\
Dear Head of Litigation Operations,

This is your 28-day reminder: 'Updated SLA between the Home Office and
the GLD in place' is due on Monday 30 April 2018.

What was promised
  An Inspection of the Home Office's Mechanisms for Learning from
  Immigration Litigation, recommendation 1 (accepted), paragraph 1.3:
  "an updated Service Level Agreement (SLA) between the Home Office and
  the GLD in place by April 2018"

Due:    2018-04-30 (the period 2018-04-01 to 2018-04-30)
Owner:  Head of Litigation Operations <lo-head@homeoffice.example>

To record progress, use one of these links:
  Mark in progress: {in_progress}
  Mark done (with evidence): {done}
  Ask for more time: {more_time}
  This is not mine: {not_mine}

{signature}
duly keeps the department's promises to the Independent Chief Inspector of Borders and Immigration.
Reference: learning-from-litigation-2018/sla-in-place#remind-28d@2018-04-30
"""


def sla_reminder() -> str:
    """The 28-day reminder as sent on Easter Monday, with the owner's signed links."""
    links = action_links(SLA, "lo-head", london(2018, 4, 2, 9))
    return SLA_REMINDER.format(signature="-- ", **links)  # the separator ends in a space


def test_easter_monday_2018_replay_sends_the_sla_reminder_missed_over_the_weekend(
    engine, outbox, seed_rules
):
    # The 28-day reminder went due on Maundy Thursday; a first tick on Easter Monday
    # is within its 3 working days, so it goes out, and so does the rest of that day.
    result = tick(engine, seed_rules, london(2018, 4, 2, 9), outbox)
    # 11 reminders, and 14 invites for commitments whose day is still ahead
    assert (result.due, result.enqueued, result.delivery.sent) == (131, 25, 25)
    messages = {m["Message-ID"]: m for m in outbox.messages()}
    assert len(messages) == 25
    invites = [m for m in messages.values() if m.get_content_type() == "multipart/mixed"]
    assert len(invites) == 14
    reminders = [m for m in messages.values() if m not in invites]
    (sla,) = [
        m
        for m in reminders
        if "sla-in-place#" in m.get_body(preferencelist=("plain",)).get_content()
    ]
    assert sla["Subject"] == (
        "Reminder: Updated SLA between the Home Office and the GLD in place (due 2018-04-30)"
    )
    assert sla["To"] == "Head of Litigation Operations <lo-head@homeoffice.example>"
    assert sla["Date"] == "Mon, 02 Apr 2018 09:00:00 +0100"
    assert sla.get_body(preferencelist=("plain",)).get_content() == sla_reminder()
    # the invite of January was not too late: the SLA's day is still ahead
    assert f"{SLA}#invite@2018-04-30" not in dict(result.skipped)
    # but the one for the joint improvement plan, due in March, had gone: skipped, with why
    skipped = dict(result.skipped)
    assert skipped["learning-from-litigation-2018/joint-improvement-plan#invite@2018-03-31"] == (
        "too late: it was due to go on 2018-01-30 09:00 UTC and is useless after "
        "2018-03-31 08:00 UTC"
    )


def test_a_second_tick_at_the_same_instant_sends_nothing(engine, outbox, seed_rules):
    tick(engine, seed_rules, london(2018, 4, 2, 9), outbox)
    again = tick(engine, seed_rules, london(2018, 4, 2, 9), outbox)
    assert (again.due, again.enqueued, again.delivery.sent) == (0, 0, 0)
    assert len(outbox.messages()) == 25


def test_runs_missed_for_four_days_catch_up_on_what_is_still_useful(engine, outbox, seed_rules):
    tick(engine, seed_rules, london(2018, 4, 20, 9), outbox)
    before = set(sent_keys(engine))
    # no run on Monday 23 to Thursday 26 April; Friday's run catches up
    result = tick(engine, seed_rules, london(2018, 4, 27, 9), outbox)
    caught_up = sorted(set(sent_keys(engine)) - before)
    assert caught_up == [
        "asylum-intake-and-casework-2017/action-plan-monthly-meetings#remind-3d@2018-04-30",
        "overstayers-2014/monthly-productivity-reports#remind-3d@2018-05-01",
        "status-review-and-removal-2018/data-handling-monthly-audit#remind-3d@2018-04-30",
        "status-review-and-removal-2018/directors-meet-quarterly#remind-1d@2018-04-30",
    ]
    # Monday's 7-day reminders were useful until Thursday 09:00: recorded as skipped
    skipped = dict(result.skipped)
    assert skipped[f"{SLA}#remind-7d@2018-04-30"] == (
        "too late: it was due to go on 2018-04-23 08:00 UTC and is useless after "
        "2018-04-26 08:00 UTC"
    )
    assert len(skipped) == 9
    with Session(engine) as session:
        row = session.get(AgendaRow, f"{SLA}#remind-7d@2018-04-30")
        assert (row.status, row.note) == ("skipped", skipped[f"{SLA}#remind-7d@2018-04-30"])


def test_a_commitment_done_since_the_agenda_was_built_sends_nothing(engine, outbox, seed_rules):
    tick(engine, seed_rules, london(2018, 4, 20, 9), outbox)
    with Session(engine) as session:  # the state changes behind the agenda's back
        row = session.get(CommitmentRow, SLA)
        row.state = "done"
        session.add(row)
        session.commit()
    result = tick(engine, seed_rules, london(2018, 4, 23, 9), outbox)
    assert dict(result.skipped)[f"{SLA}#remind-7d@2018-04-30"] == "the commitment is done"
    assert f"{SLA}#remind-7d@2018-04-30" not in sent_keys(engine)


def test_marking_done_through_duly_removes_the_pending_reminders(engine, outbox, seed_rules):
    tick(engine, seed_rules, london(2018, 4, 20, 9), outbox)
    with Session(engine) as session:
        set_state(
            session,
            seed_rules,
            SLA,
            "done",
            who="lo-head",
            why="signed",
            now=london(2018, 4, 21, 10),
        )
        session.commit()
    result = tick(engine, seed_rules, london(2018, 4, 23, 9), outbox)
    assert not [k for k, _ in result.skipped if k.startswith(SLA + "#")]
    assert not [k for k in sent_keys(engine) if k.startswith(SLA + "#remind-7d")]


def test_a_check_releases_its_own_rule_and_the_deliverer_queues_it(engine, outbox, seed_rules):
    # A rule's scheduled check writes one row, its release mark; the agenda is untouched
    # until the deliverer decides each released step, so the check costs the same
    # whatever the number of commitments.
    now = london(2018, 4, 2, 9)
    in_transaction(lambda s: sync(s, seed_rules, now), engine)
    checked = in_transaction(
        lambda s: check_rule(s, seed_rules, "report-back-by-date", now), engine
    )
    assert checked.due == 75
    with Session(engine) as session:
        marks = {m.name: m.value for m in session.exec(select(SyncMark)).all()}
        assert marks[f"{RELEASED}report-back-by-date"] == now
        assert not session.exec(select(Delivery)).all()
        assert not session.exec(select(AgendaRow).where(AgendaRow.status != "pending")).all()
    sent = deliver(engine, outbox, now, rules=seed_rules)
    assert (sent.enqueued, len(sent.skipped), sent.sent) == (20, 55, 20)
    with Session(engine) as session:
        assert {d.rule_id for d in session.exec(select(Delivery)).all()} == {"report-back-by-date"}
    # the other rules' steps wait for their own checks: 49 monthly-check steps, ...
    result = tick(engine, seed_rules, now, outbox)
    assert (result.due, result.enqueued, result.delivery.sent) == (56, 5, 5)
    assert len(outbox.messages()) == 25  # as many as one tick of every rule sends


def test_steps_released_for_a_rule_gone_from_the_files_are_skipped_with_why(engine, seed_rules):
    now = london(2018, 4, 2, 9)
    in_transaction(lambda s: sync(s, seed_rules, now), engine)
    in_transaction(lambda s: check_rule(s, seed_rules, "report-back-by-date", now), engine)
    policies = {k: p for k, p in seed_rules.policies.items() if k != "report-back-by-date"}
    without = dataclasses.replace(seed_rules, policies=policies)
    queued = in_transaction(lambda s: enqueue_released(s, without, now), engine)
    assert (queued.enqueued, len(queued.skipped)) == (0, 75)
    assert {why for _, why in queued.skipped} == {"no longer in the rules"}
    with Session(engine) as session:
        row = session.get(AgendaRow, f"{SLA}#remind-28d@2018-04-30")
        assert (row.status, row.note) == ("skipped", "no longer in the rules")
        assert not session.exec(select(Delivery)).all()


def test_a_check_for_an_earlier_instant_releases_nothing_new(engine, outbox, seed_rules):
    tick(engine, seed_rules, london(2018, 4, 2, 9), outbox)
    again = tick(engine, seed_rules, london(2018, 3, 1, 9), outbox)
    assert (again.due, again.enqueued, again.delivery.sent) == (0, 0, 0)
    with Session(engine) as session:
        mark = session.get(SyncMark, f"{RELEASED}report-back-by-date")
    assert mark.value == london(2018, 4, 2, 9)  # a mark never moves back


class FailingChannel:
    """A channel that refuses every message (optionally for good)."""

    name = "failing"

    def __init__(self, permanent_for: str = "", inner: MaildirOutbox | None = None):
        self.permanent_for = permanent_for
        self.inner = inner
        self.attempts = 0

    def send(self, message) -> None:
        self.attempts += 1
        if self.permanent_for and self.permanent_for in str(message["To"]):
            raise ChannelError("550 no such mailbox", permanent=True)
        if self.inner is None:
            raise ChannelError("421 service not available")
        self.inner.send(message)


def test_a_failing_channel_is_retried_with_backoff_then_dead_lettered(engine, seed_rules):
    now = london(2018, 4, 2, 9)
    tick(engine, seed_rules, now, FailingChannel())
    waits = []
    for _ in range(6):
        with Session(engine) as session:
            (first,) = session.exec(select(Delivery).order_by(Delivery.id).limit(1)).all()
        if first.status == "dead":
            break
        waits.append(first.next_attempt_at - now)
        now = first.next_attempt_at
        deliver(engine, FailingChannel(), now)
    assert waits == [timedelta(minutes=m) for m in (5, 10, 20, 40)]
    assert (first.status, first.attempts, first.last_error) == (
        "dead",
        5,
        "421 service not available",
    )


def test_a_bad_address_is_dead_lettered_without_blocking_the_others(engine, outbox, seed_rules):
    channel = FailingChannel(permanent_for="lo-head@", inner=outbox)
    result = tick(engine, seed_rules, london(2018, 4, 2, 9), channel)
    # 4 reminders and 1 invite for lo-head
    assert (result.delivery.sent, result.delivery.dead) == (20, 5)
    assert len(outbox.messages()) == 20


def test_a_crash_between_sending_and_recording_never_sends_twice(engine, outbox, seed_rules):
    now = london(2018, 4, 2, 9)
    tick(engine, seed_rules, now, FailingChannel())  # everything queued for a retry
    later = now + timedelta(hours=2)
    with Session(engine) as session:
        claimed = _claim(session, later, batch=100)
        for delivery in claimed[:3]:  # sent, then the process dies before recording
            from flows.messages import build_email

            outbox.send(
                build_email(
                    key=delivery.key,
                    to=delivery.address,
                    subject=delivery.subject,
                    body=delivery.body,
                    at=later,
                )
            )
    result = deliver(engine, outbox, later + LEASE + timedelta(seconds=1))
    assert (result.reconciled, result.sent) == (3, 22)
    assert len(outbox.messages()) == 25
    assert len(set(sent_keys(engine))) == 25
