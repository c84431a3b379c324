"""The SMTP server down, or refusing with 421/451, for a simulated hour or two of ticks.

Time is simulated: ``flows.tick.deliver(engine, channel, now)`` every 5 minutes
with ``now`` passed forward, and no sleeping. Each tick gets a new channel, as
each ``duly tick`` process does. One owner's address is refused with 550 all along.

The retry limit. ``models.tick.next_attempt`` waits 5, 10, 20 and 40 minutes after
failed attempts 1-4, and the default ``max_attempts: 5`` dead-letters on the fifth
failure: the five attempts span 75 minutes from the first. So an outage of one
hour is inside the default limit (the fifth attempt, at +75 min, goes through),
and an outage of two hours is not: every message due when it began is
dead-lettered at +75 min, and never sent. The two-hour case is run twice: with
the default, to pin down that limit (dead-lettered after exactly 5 attempts, not
before), and with ``max_attempts: 7`` in the test's policies (5+10+20+40+80+160
minutes: the seventh attempt is at +315 min), where every message gets through.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from flows.db import create_schema, make_engine
from flows.rulefiles import load_rules
from flows.smtp import SmtpChannel
from flows.tick import deliver, tick
from models.tables import Delivery
from tests.conftest import RULES
from tests.faults.portfolio import AT, write_rules
from tests.smtp_server import SmtpServer

BAD = "aic-head@homeoffice.example"  # refused with 550 throughout
STEP = timedelta(minutes=5)
RUN = timedelta(hours=6)


def _policies(max_attempts: int | None) -> str | None:
    text = (RULES / "policies.yaml").read_text()
    if max_attempts is None:
        return None
    return text.replace("\n    kind:", f"\n    max_attempts: {max_attempts}\n    kind:")


def _snapshot(engine) -> dict[str, tuple[str, int, object]]:
    with Session(engine) as session:
        return {
            d.key: (d.status, d.attempts, d.next_attempt_at)
            for d in session.exec(select(Delivery)).all()
        }


@pytest.mark.parametrize(
    ("fault", "outage", "max_attempts"),
    [
        ("down", timedelta(hours=1), None),
        ("451", timedelta(hours=1), None),
        ("421", timedelta(hours=1), None),
        ("down", timedelta(hours=2), 7),
    ],
)
def test_an_outage_inside_the_retry_limit_delays_but_loses_nothing(
    tmp_path, fault, outage, max_attempts
):
    rules = load_rules([write_rules(tmp_path / "rules", 20, policies=_policies(max_attempts))])
    assert rules.ok
    engine = make_engine(f"sqlite:///{tmp_path / 'duly.db'}")
    create_schema(engine)
    attempts_at: dict[str, list[timedelta]] = {}
    with SmtpServer() as server:
        server.refuse_address(BAD)
        now = AT
        while now <= AT + RUN:
            broken = now < AT + outage
            if fault == "down":
                server.down() if broken else server.up()
            else:
                server.refuse(int(fault) if broken else None, stage="mail")
            before = _snapshot(engine)
            with SmtpChannel.from_url(server.url) as channel:
                if now == AT:
                    tick(engine, rules, now, channel)
                else:
                    deliver(engine, channel, now)
            after = _snapshot(engine)
            for key, (status, attempts, next_at) in after.items():
                if attempts > before.get(key, ("", 0, None))[1]:
                    attempts_at.setdefault(key, []).append(now - AT)
                    if status == "queued":  # failed, to be retried with backoff
                        assert next_at == now + timedelta(minutes=5) * 2 ** (attempts - 1)
            now += STEP
            if now > AT + outage and all(s != "queued" for s, _, _ in after.values()):
                break  # everything settled: sent or dead-lettered
        received = server.counts()
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    engine.dispose()
    limit = max_attempts or 5
    good = [d for d in deliveries if BAD not in d.address]
    bad = [d for d in deliveries if BAD in d.address]
    schedules = {tuple(attempts_at[d.key]) for d in good}
    minutes = sorted({tuple(int(t.total_seconds() // 60) for t in s) for s in schedules})
    print(
        f"\n{fault} for {outage}, max_attempts {limit}: {len(good)} messages, "
        f"{sum(d.status == 'sent' for d in good)} delivered after recovery, 0 lost, "
        f"{sum(d.status == 'dead' for d in good)} dead-lettered; attempts at minutes "
        f"{minutes}; {len(bad)} to the refused address dead-lettered "
        f"({sorted({d.attempts for d in bad})} attempts)"
    )
    assert good and bad
    assert all(d.status == "sent" for d in good), "a message was lost to the outage"
    assert all(received[d.message_id] == 1 for d in good)  # each arrived once
    assert all(d.attempts <= limit for d in good)
    # the backoff: 5, 10, 20, 40, 80... minutes between attempts, first at +0
    for schedule in schedules:
        gaps = [b - a for a, b in itertools.pairwise(schedule)]
        assert gaps == [timedelta(minutes=5) * 2**i for i in range(len(gaps))]
        assert schedule[-1] >= outage  # the last one is the one that got through
    # the permanently refused address is dead-lettered on its first refusal by 550,
    # and the others went through regardless
    assert all(d.status == "dead" and "550" in (d.last_error or "") for d in bad)
    assert all(received[d.message_id] == 0 for d in bad)


def test_an_outage_longer_than_the_default_retries_dead_letters_at_the_fifth_attempt(tmp_path):
    """Pins down the default limit (see the module's docstring): 75 minutes of retries."""
    rules = load_rules([write_rules(tmp_path / "rules", 10)])
    engine = make_engine(f"sqlite:///{tmp_path / 'duly.db'}")
    create_schema(engine)
    dead_at: dict[str, timedelta] = {}
    with SmtpServer() as server:
        server.down()
        now = AT
        while now <= AT + timedelta(hours=2):
            with SmtpChannel.from_url(server.url) as channel:
                if now == AT:
                    tick(engine, rules, now, channel)
                else:
                    deliver(engine, channel, now)
            for key, (status, _, _) in _snapshot(engine).items():
                if status == "dead":
                    dead_at.setdefault(key, now - AT)
            now += STEP
        server.up()
        with SmtpChannel.from_url(server.url) as channel:
            deliver(engine, channel, now)
        received = server.message_ids()
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    engine.dispose()
    print(
        f"\ndown for 2 h with the default max_attempts 5: {len(deliveries)} messages, "
        f"{sum(d.status == 'dead' for d in deliveries)} dead-lettered at minute "
        f"{sorted({int(t.total_seconds() // 60) for t in dead_at.values()})} after "
        f"{sorted({d.attempts for d in deliveries})} attempts, {len(received)} delivered "
        "(the server came back at +2 h)"
    )
    assert {d.status for d in deliveries} == {"dead"}
    assert {d.attempts for d in deliveries} == {5}  # not one attempt before the limit
    assert set(dead_at.values()) == {timedelta(minutes=75)}
    assert received == []
