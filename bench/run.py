"""duly against its peers, side by side in one run: Remind, and the naive Prefect design.

    bench/run [--n 100000] [--repeat 5]

Each figure is printed as duly, the peer and the ratio (duly / peer), medians of
alternated repetitions, and written to bench/results.json. Heavy measurements run
in child processes (``python bench/run.py child ...``) so each has its own peak RSS.

- tick: every rule's check at an instant (it releases every step due: one mark per
  rule), against Remind evaluating the same deadlines for the same date; and
  "tick + enqueue", with the deliverer's enqueue of what was released (send or skip
  decided per step, a Delivery row written per step sent).
- compile: build the whole agenda from scratch (sync into an empty database),
  against the same Remind run; commitments per second.
- incremental: edit one rule's lead times; mark 1% of commitments done. Against a
  full compile.
- naive: one Prefect task per commitment at 1,000, extrapolated to N, against duly's
  tick at the same N.
- cold start: `duly --help` and `duly validate rules/` against `import sqlmodel`.
- delivery: 10,000 reminders through duly's delivery path into a real SMTP server
  (aiosmtpd on loopback), against raw smtplib sending the same messages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TICK_AT = datetime(2021, 3, 29, 8, 0, tzinfo=UTC)  # a Monday morning, 09:00 London


def _rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


# -- children: one measurement each, printed as JSON --------------------------------------


def child_compile(n: int, url: str) -> dict[str, float]:
    from sqlmodel import Session

    from bench.portfolio import synthetic_rules
    from flows.db import create_schema, make_engine, sync_rules

    rules = synthetic_rules(n)
    engine = make_engine(url)
    create_schema(engine)
    start = time.perf_counter()
    with Session(engine) as session:
        counts = sync_rules(session, rules, TICK_AT)
        session.commit()
    return {
        "seconds": time.perf_counter() - start,
        "rss_mb": _rss_mb(),
        "agenda_rows": counts["agenda"],
    }


def child_delivery(count: int, url: str) -> dict[str, float]:
    """``count`` queued reminders sent through duly's delivery path (claim, render with
    signed links, record each attempt) into a real SMTP server (aiosmtpd on loopback),
    against raw smtplib sending the same messages on one connection."""
    import smtplib

    from aiosmtpd.controller import Controller
    from sqlalchemy import bindparam, text
    from sqlmodel import Session, select

    from bench.portfolio import synthetic_rules
    from flows.db import create_schema, make_engine, sync_rules
    from flows.smtp import SmtpChannel
    from flows.tick import _message as email_of
    from flows.tick import deliver
    from models.tables import Delivery

    class Sink:
        received = 0

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            Sink.received += 1
            return "250 OK"

    os.environ.setdefault("DULY_SECRET_KEY", "bench-key")
    rules = synthetic_rules(10_000)
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as session:
        sync_rules(session, rules, datetime(2018, 1, 1, tzinfo=UTC))
        session.commit()
    with Session(
        engine
    ) as session:  # ``count`` reminder steps queued as the deliverer queues them
        session.execute(
            text(
                "INSERT INTO delivery (key, agenda_key, commitment_uid, rule_id, step, channel, "
                "recipient, address, subject, body, status, attempts, max_attempts, created_at) "
                "SELECT key || '|email', key, commitment_uid, rule_id, step, 'email', "
                "recipient, '', '', '', 'queued', 0, 5, :now FROM agenda_item "
                "WHERE step != 'invite' AND status = 'pending' ORDER BY at, key LIMIT :count"
            ).bindparams(bindparam("now", type_=Delivery.__table__.c.created_at.type)),
            {"now": TICK_AT, "count": count},
        )
        session.commit()
        queued = len(session.exec(select(Delivery.id)).all())
        if queued < count:
            raise SystemExit(f"only {queued} reminders to queue, {count} asked for")
    import socket

    with socket.socket() as probe:  # a free port (aiosmtpd cannot start on port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{port}")
        start = time.perf_counter()
        result = deliver(engine, channel, TICK_AT, rules=rules)
        duly_s = time.perf_counter() - start
        channel.close()
        with Session(engine) as session:  # the same messages, built as duly builds them
            sent = session.exec(select(Delivery).where(Delivery.status == "sent")).all()
            messages = [email_of(d, TICK_AT) for d in sent]
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for message in messages:
                smtp.send_message(message)
        raw_s = time.perf_counter() - start
    finally:
        controller.stop()
    return {"seconds": duly_s, "raw_seconds": raw_s, "sent": result.sent, "rss_mb": _rss_mb()}


def child_tick(n: int, url: str, at: str = "", commit: str = "") -> dict[str, float]:
    """Every rule's check at an instant (each moves its release mark and counts what it
    releases), then, timed apart, the deliverer's enqueue of what was released (decide
    send or skip for each step, record a Delivery per step sent). ``commit``: keep
    both; otherwise roll back, so every repetition measures the same day."""
    from sqlmodel import Session

    from bench.portfolio import synthetic_rules
    from flows.db import make_engine
    from flows.tick import check_rule, enqueue_released

    rules = synthetic_rules(n)
    engine = make_engine(url)
    instant = datetime.fromisoformat(at) if at else TICK_AT
    due = 0
    with Session(engine) as session:
        start = time.perf_counter()
        for rule_id in sorted(rules.policies):
            due += check_rule(session, rules, rule_id, instant).due
        tick_s = time.perf_counter() - start
        start = time.perf_counter()
        queued = enqueue_released(session, rules, instant)
        enqueue_s = time.perf_counter() - start
        if commit:
            session.commit()
        else:
            session.rollback()
    return {
        "seconds": tick_s,
        "enqueue_seconds": enqueue_s,
        "rss_mb": _rss_mb(),
        "due": due,
        "enqueued": queued.enqueued,
        "skipped": len(queued.skipped),
    }


def child_incremental(n: int, url: str) -> dict[str, float]:
    import dataclasses

    from sqlmodel import Session

    from bench.portfolio import synthetic_rules
    from flows.db import make_engine, set_state, sync_rules

    rules = synthetic_rules(n)
    engine = make_engine(url)
    policy = rules.policies["review-annually"]
    rules.policies["review-annually"] = dataclasses.replace(
        policy, remind_before=(21, 7, 0), digest=policy.digest + "-edited"
    )
    start = time.perf_counter()
    with Session(engine) as session:
        counts = sync_rules(session, rules, TICK_AT)
        session.rollback()
    edit = time.perf_counter() - start
    uids = [u for u in list(rules.commitments)[::100]]
    start = time.perf_counter()
    with Session(engine) as session:
        for uid in uids:
            set_state(session, rules, uid, "done", who="bench", why="bench", now=TICK_AT)
        session.rollback()
    return {
        "edit_rule_seconds": edit,
        "edited": counts["changed"],
        "mark_done_seconds": time.perf_counter() - start,
        "marked": len(uids),
    }


def child_naive(n: int) -> dict[str, float]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect import flow, task

    from bench.portfolio import synthetic_rules
    from models.agenda import CommitmentStatus, commitment_steps

    rules = synthetic_rules(n)
    commitments = list(rules.commitments.values())

    @task
    def check_one(uid: str) -> int:
        c = rules.commitments[uid]
        return sum(
            1
            for i in commitment_steps(
                rules, c, CommitmentStatus(), {}, date(2021, 3, 28), date(2021, 3, 30)
            )
            if i.at <= TICK_AT
        )

    @flow
    def naive(uids: list[str]) -> int:
        return sum(f.result() for f in check_one.map(uids))

    naive([c.uid for c in commitments[:10]])  # start-up (temporary server) not counted
    start = time.perf_counter()
    naive([c.uid for c in commitments])
    return {"seconds": time.perf_counter() - start}


# -- the parent: alternate, take medians, print the table ---------------------------------


def _child(*args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "child", *args], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"bench child {' '.join(args)} failed:\n{done.stderr}")
    values: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return values


def _remind(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["remind", "-q", str(path), TICK_AT.strftime("%Y-%m-%d")], check=True, capture_output=True
    )
    return time.perf_counter() - start


def _ensure_remind() -> None:
    if shutil.which("remind"):
        return
    print("remind is not installed: installing it with apt-get (Debian package remind)")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "remind"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="duly against Remind and naive Prefect")
    parser.add_argument("--n", type=int, default=100_000, help="the largest portfolio")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    began = time.perf_counter()
    _ensure_remind()
    from bench.portfolio import remind_file, synthetic_rules

    sizes = [s for s in (10_000, 100_000, 1_000_000) if s <= args.n] or [args.n]
    rows: list[dict[str, object]] = []
    naive: dict[str, float] | None = None
    work = Path(tempfile.mkdtemp(prefix="duly-bench-"))
    try:
        for n in sizes:
            url = f"sqlite:///{work / f'duly-{n}.db'}"
            reminders = work / f"deadlines-{n}.rem"
            remind_file(synthetic_rules(n), reminders)
            compiled = _child("compile", str(n), url)
            # the day before, a tick catches up on everything since 2018 (not measured):
            # what is measured is a steady day's tick
            _child("tick", str(n), url, "2021-03-26T09:00:00+00:00", "commit")
            ticks, remind_times = [], []
            for _ in range(args.repeat):  # alternated, A B A B ...
                ticks.append(_child("tick", str(n), url))
                remind_times.append(_remind(reminders))
            tick = statistics.median(t["seconds"] for t in ticks)
            enqueue = statistics.median(t["enqueue_seconds"] for t in ticks)
            remind = statistics.median(remind_times)
            rows.append(
                {
                    "n": n,
                    "figure": "tick",
                    "duly_s": tick,
                    "peer": "remind",
                    "peer_s": remind,
                    "ratio": tick / remind,
                    "note": f"every rule's check: {ticks[0]['due']:.0f} steps due released, "
                    f"rss {ticks[0]['rss_mb']} MB",
                }
            )
            rows.append(
                {
                    "n": n,
                    "figure": "tick + enqueue",
                    "duly_s": tick + enqueue,
                    "peer": "remind",
                    "peer_s": remind,
                    "ratio": (tick + enqueue) / remind,
                    "note": f"and the deliverer's enqueue: {ticks[0]['enqueued']:.0f} "
                    f"deliveries recorded, {ticks[0]['skipped']:.0f} skipped",
                }
            )
            rows.append(
                {
                    "n": n,
                    "figure": "compile",
                    "duly_s": compiled["seconds"],
                    "peer": "remind",
                    "peer_s": remind,
                    "ratio": compiled["seconds"] / remind,
                    "note": f"{n / compiled['seconds']:,.0f} commitments/s, "
                    f"{compiled['agenda_rows']:,.0f} rows, "
                    f"rss {compiled['rss_mb']} MB",
                }
            )
            for what, rss in (("compile", compiled["rss_mb"]), ("tick", ticks[0]["rss_mb"])):
                rows.append(
                    {
                        "n": n,
                        "figure": f"memory: {what}",
                        "unit": "MB",
                        "duly_s": float(rss),
                        "peer": "goal",
                        "peer_s": 2048.0,
                        "ratio": rss / 2048,
                        "note": "peak RSS of the process; goal under 2 GiB at 1,000,000",
                    }
                )
            inc = _child("incremental", str(n), url)
            rows.append(
                {
                    "n": n,
                    "figure": "incremental: edit a rule",
                    "duly_s": inc["edit_rule_seconds"],
                    "peer": "full compile",
                    "peer_s": compiled["seconds"],
                    "ratio": inc["edit_rule_seconds"] / compiled["seconds"],
                    "note": f"{inc['edited']:.0f} commitments recompiled",
                }
            )
            rows.append(
                {
                    "n": n,
                    "figure": "incremental: 1% done",
                    "duly_s": inc["mark_done_seconds"],
                    "peer": "full compile",
                    "peer_s": compiled["seconds"],
                    "ratio": inc["mark_done_seconds"] / compiled["seconds"],
                    "note": f"{inc['marked']:.0f} marked done one by one",
                }
            )
            if naive is None:  # measured once, at 1,000 tasks
                naive = _child("naive", "1000")
            naive_n = naive["seconds"] / 1_000 * n
            rows.append(
                {
                    "n": n,
                    "figure": "naive (task per commitment)",
                    "duly_s": tick + enqueue,
                    "peer": "prefect tasks",
                    "peer_s": naive_n,
                    "ratio": naive_n / (tick + enqueue),
                    "note": f"{naive['seconds'] / 1000 * 1e3:.1f} ms per task, "
                    "extrapolated from 1,000, against tick + enqueue; ratio = naive / duly",
                }
            )
            _save(rows, args, time.perf_counter() - began)
            print(f"N = {n:,} measured after {time.perf_counter() - began:.0f} s", flush=True)
        from bench.startup import COMMANDS, once

        for command in COMMANDS.values():
            once(command)
        cold = {
            name: statistics.median(once(c) for _ in range(args.repeat))
            for name, c in COMMANDS.items()
        }
        base = cold["import sqlmodel"]
        for name in ("duly --help", "duly validate rules/"):
            rows.append(
                {
                    "n": None,
                    "figure": f"cold start: {name}",
                    "duly_s": cold[name],
                    "peer": "import sqlmodel",
                    "peer_s": base,
                    "ratio": cold[name] / base,
                    "note": f"budget 1.5 x + 0.5 s = {1.5 * base + 0.5:.2f} s",
                }
            )
        sent = _child("delivery", "10000", f"sqlite:///{work / 'delivery.db'}")
        rows.append(
            {
                "n": None,
                "figure": f"delivery ({sent['sent']:,.0f} via SMTP)",
                "duly_s": sent["seconds"],
                "peer": "smtplib",
                "peer_s": sent["raw_seconds"],
                "ratio": sent["seconds"] / sent["raw_seconds"],
                "note": "reminders claimed, rendered with signed links, sent, each recorded; "
                "raw smtplib sends the same messages on one connection",
            }
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print(rows)
    _save(rows, args, time.perf_counter() - began)


def _save(rows: list[dict[str, object]], args: argparse.Namespace, seconds: float) -> None:
    """Write bench/results.json (also after each N, so a run cut short keeps what it had)."""
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": f"bench/run --n {args.n} --repeat {args.repeat}",
        "seconds": round(seconds),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "rows": rows,
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(result, indent=2) + "\n")


def _print(rows: list[dict[str, object]]) -> None:
    def fmt(value: object, unit: object) -> str:
        if value is None:
            return "-"
        if unit == "MB" and isinstance(value, float):
            return f"{value:,.0f} MB"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    print(
        f"{'N':>9}  {'figure':<30} {'duly s':>9}  {'peer':<15} {'peer s':>9}  {'ratio':>9}  note"
    )
    for r in rows:
        n = "" if r["n"] is None else f"{r['n']:,}"
        unit = r.get("unit", "s")
        print(
            f"{n:>9}  {r['figure']!s:<30} {fmt(r['duly_s'], unit):>9}  {r['peer']!s:<15} "
            f"{fmt(r['peer_s'], unit):>9}  {fmt(r['ratio'], None):>9}  {r['note']}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        kind, rest = sys.argv[2], sys.argv[3:]
        function = {
            "compile": child_compile,
            "tick": child_tick,
            "incremental": child_incremental,
            "naive": child_naive,
            "delivery": child_delivery,
        }[kind]
        values: list[object] = [int(rest[0]), *rest[1:]]
        print(json.dumps(function(*values)))  # type: ignore[operator]
    else:
        main()
