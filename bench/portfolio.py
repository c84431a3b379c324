"""A synthetic but realistic portfolio of N commitments, for the benchmarks.

The mix follows the seed responses: mostly deadlines, some annual, quarterly and
monthly series, some pilots and work due to start in a period, and about 10%
waiting for another commitment. Due dates spread over ten years from 2018, owners
over 5,000 people, responses of 40 commitments each. The project's own
``rules/policies.yaml`` gives the rules, so the benchmark measures the real ones.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from flows.rulefiles import load_rules
from models.dates import Period, parse_span
from models.rules import Commitment, Owner, Recommendation, Response, RuleSet

ROOT = Path(__file__).resolve().parents[1]
OWNERS = 5_000
PER_RESPONSE = 40
START = date(2018, 1, 1)

# (share, rule, kind) — the seeds' proportions, rounded
MIX = [
    (0.62, "report-back-by-date", "deadline"),
    (0.05, "review-annually", "recurring"),
    (0.05, "meet-quarterly", "recurring"),
    (0.05, "monthly-check", "recurring"),
    (0.04, "pilot-lasts-three-months", "duration"),
    (0.09, "start-in-period", "start"),
    (0.10, "when-ready", "dependency"),
]


def synthetic_rules(n: int, seed: int = 2018) -> RuleSet:
    """The project's policies, 5,000 owners and ``n`` commitments, resolved in memory."""
    base = load_rules([ROOT / "rules"])
    rng = random.Random(seed)
    rules = RuleSet(policies=dict(base.policies))
    for i in range(OWNERS):
        escalate = f"director-{i // 50}"
        rules.owners[f"owner-{i}"] = Owner(
            f"owner-{i}", f"Owner {i}", f"owner-{i}@dept.example", (), escalate
        )
    for d in range(OWNERS // 50):
        rules.owners[f"director-{d}"] = Owner(
            f"director-{d}", f"Director {d}", f"director-{d}@dept.example", (), None
        )
    kinds = [(rule, kind) for share, rule, kind in MIX for _ in range(round(share * 100))]
    three_months = parse_span("3 months")
    for r in range(0, n, PER_RESPONSE):
        response_id = f"response-{r // PER_RESPONSE}"
        published = START + timedelta(days=rng.randrange(0, 3 * 365))
        uids: list[str] = []
        for i in range(r, min(n, r + PER_RESPONSE)):
            rule, kind = kinds[i % len(kinds)]
            cid = f"c{i}"
            uid = f"{response_id}/{cid}"
            when = published + timedelta(days=rng.randrange(30, 7 * 365))
            month = Period(when.replace(day=1), _month_end(when), when.strftime("%B %Y"))
            after = uids[-1] if kind == "dependency" and uids else None
            if kind == "dependency" and after is None:
                rule, kind = "report-back-by-date", "deadline"
            policy = rules.policies[rule]
            rules.commitments[uid] = Commitment(
                uid=uid,
                id=cid,
                response_id=response_id,
                recommendation="1",
                para="1.1",
                quote="We will report back by the date given.",
                action=f"Action {i}",
                owner=f"owner-{rng.randrange(OWNERS)}",
                rule=rule,
                due=month if kind == "deadline" else None,
                starts=month if kind in ("start", "duration") else None,
                duration=three_months if kind == "duration" else None,
                rrule=policy.rrule if kind == "recurring" else None,
                after=after,
                digest=f"{uid}:{when.isoformat()}",
            )
            uids.append(uid)
        rules.responses[response_id] = Response(
            response_id,
            f"Response {r // PER_RESPONSE}",
            "An inspectorate",
            None,
            published,
            None,
            "synthetic",
            (Recommendation("1", "Do better.", "accepted", None, tuple(uids)),),
        )
    return rules


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def remind_file(rules: RuleSet, path: Path) -> int:
    """The deadlines as Remind reminders (``REM 30 Apr 2018 +28 MSG ...``); returns the count."""
    lines = []
    for c in rules.commitments.values():
        if c.due is not None:
            due = c.due.due
            lines.append(f"REM {due.day} {due:%b} {due.year} +28 MSG {c.uid} due %b\n")
    path.write_text("".join(lines))
    return len(lines)
