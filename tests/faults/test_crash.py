"""`duly tick` killed with SIGKILL at random points, again and again, then a clean tick.

The tick sends through a real SMTP server on loopback (``DULY_SMTP_URL``) into a
SQLite database. Afterwards every message the Delivery table lists has arrived,
nothing else has, and every row says ``sent``.

SMTP cannot be asked "do you already have this Message-ID?", so a kill between
the server's 250 and the database's commit of ``sent`` makes the next tick send
that one message again. Those raw resends are counted and reported beside the
distinct figure; each kill can cause at most one.

Each cycle starts a new Python process (about 2-3 s of CPU for imports, reading
the rules and syncing them), so the number of cycles is bounded by time:
``DULY_FAULTS_KILL_SECONDS`` (default 40) and ``DULY_FAULTS_KILL_CYCLES`` (default
100). The test prints how many ran.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

from sqlmodel import Session, select

from flows.db import make_engine
from flows.tick import LEASE
from models.tables import Delivery
from tests.faults.portfolio import AT, write_rules
from tests.smtp_server import SmtpServer

COMMITMENTS = 300  # with the seed rules: over 300 messages at 09:00 on 15 June 2018
BUDGET = float(os.environ.get("DULY_FAULTS_KILL_SECONDS", "40"))
CYCLES = int(os.environ.get("DULY_FAULTS_KILL_CYCLES", "100"))
# A tick killed mid-batch leaves its other claimed rows "sending" until the lease
# runs out, so each cycle runs one lease later (in --at time) than the last.
STEP = LEASE + timedelta(minutes=1)


def _tick(at, rules, database, env, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "tick",
            "--at",
            at.isoformat(),
            "--rules",
            str(rules),
            "--database",
            database,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_at_random_points_loses_nothing_and_resends_only_in_the_crash_window(tmp_path):
    rules = write_rules(tmp_path / "rules", COMMITMENTS)
    database = f"sqlite:///{tmp_path / 'duly.db'}"
    rng = random.Random(20180615)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DULY_")}
    started = time.monotonic()
    kills = {"start-up, sync or check": 0, "delivery": 0}
    cycles = 0
    finished_early = False
    with SmtpServer() as server:
        env["DULY_SMTP_URL"] = server.url
        at = AT
        while cycles < CYCLES and time.monotonic() - started < BUDGET:
            cycles += 1
            before = len(server.raw)
            tick = _tick(at, rules, database, env, tmp_path)
            if rng.random() < 0.25:
                phase = "start-up, sync or check"
                with contextlib.suppress(subprocess.TimeoutExpired):
                    tick.wait(timeout=rng.uniform(0.2, 3.0))
            else:
                phase = "delivery"
                target = before + rng.randint(1, 3)
                while len(server.raw) < target and tick.poll() is None:
                    server.wait_for(target, timeout=0.05)
                time.sleep(rng.uniform(0, 0.002))  # anywhere around the 250 and the commit
            if tick.poll() is not None:  # it finished before the kill: nothing left to send
                out, err = tick.communicate()
                assert tick.returncode == 0, err
                finished_early = True
                break
            tick.send_signal(signal.SIGKILL)
            tick.communicate()
            kills[(len(server.raw) > before and "delivery") or phase] += 1
            at += STEP
        killed_for = time.monotonic() - started
        with Session(make_engine(database)) as session:
            stuck = len(session.exec(select(Delivery).where(Delivery.status == "sending")).all())
        clean = _tick(at + STEP, rules, database, env, tmp_path)
        out, err = clean.communicate(timeout=300)
        assert clean.returncode == 0, err
        received = server.message_ids()

    engine = make_engine(database)
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    engine.dispose()
    expected = {d.message_id for d in deliveries}
    distinct = set(received)
    lost = expected - distinct
    strays = distinct - expected
    resends = len(received) - len(distinct)
    total_kills = sum(kills.values())
    print(
        f"\n{total_kills}/{CYCLES} kill cycles in {killed_for:.0f} s "
        f"(budget {BUDGET:.0f} s{'; the queue ran dry first' if finished_early else ''}): "
        f"{kills['delivery']} during delivery, {kills['start-up, sync or check']} before it; "
        f"{stuck} claims left 'sending' by the last kill, re-queued one lease later. "
        f"After a clean tick: {len(lost)} lost; distinct Message-IDs "
        f"{len(distinct & expected)}/{len(expected)}; {len(strays)} unexpected; "
        f"raw resends in the crash window: {resends} "
        f"({len(received)} copies received for {len(expected)} messages)."
    )
    assert len(expected) >= COMMITMENTS  # hundreds of messages were due at that instant
    assert total_kills >= 10, "too few kill cycles to mean anything"
    assert not lost and not strays
    assert {d.status for d in deliveries} == {"sent"}
    # each kill can leave at most one message sent but not yet recorded
    assert resends <= kills["delivery"]
    duplicated = {m for m in distinct if received.count(m) > 1}
    assert all(d.attempts >= 2 for d in deliveries if d.message_id in duplicated)
    assert "0 to retry, 0 dead-lettered" in out
