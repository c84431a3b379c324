"""What a tick decides: for each agenda step that has come due, send it or skip it, and
when to try again after a failed send.

A tick selects every pending step due at or before its instant (so a run that was
missed catches up), then asks :func:`decide` about each one. A step is skipped,
with its reason recorded, when sending it now would mislead: its commitment is
finished, the work it nags about has started, or it is too late (a "28 days
before" reminder after the due date). It is never sent late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from models.agenda import FINISHED

__all__ = ["BACKOFF", "Decision", "decide", "next_attempt"]

#: The wait before the first retry of a failed send; it doubles with each attempt.
BACKOFF = timedelta(minutes=5)
_STARTED_STEPS = ("start", "not", "ready", "escalate")  # not-started, escalate-<n>


@dataclass(frozen=True)
class Decision:
    action: Literal["send", "skip"]
    reason: str = ""


def decide(
    *, step: str, kind: str, at: datetime, expires: datetime, state: str, now: datetime
) -> Decision:
    """Send or skip one due step, given its commitment's state now.

    >>> from datetime import UTC
    >>> t = datetime(2018, 4, 2, 9, tzinfo=UTC)
    >>> decide(step="remind-28d", kind="deadline", at=t, expires=t + timedelta(days=3),
    ...        state="open", now=t).action
    'send'
    >>> decide(step="remind-28d", kind="deadline", at=t, expires=t + timedelta(days=3),
    ...        state="open", now=t + timedelta(days=5)).reason
    'too late: it was due to go on 2018-04-02 09:00 UTC and is useless after 2018-04-05 09:00 UTC'
    """
    if state in FINISHED:
        return Decision("skip", f"the commitment is {state}")
    if (
        state != "open"
        and kind in ("start", "dependency")
        and step.partition("-")[0] in _STARTED_STEPS
    ):
        return Decision("skip", "the work has started")
    if now > expires:
        return Decision(
            "skip",
            f"too late: it was due to go on {at:%Y-%m-%d %H:%M %Z} and is useless after "
            f"{expires:%Y-%m-%d %H:%M %Z}",
        )
    return Decision("send")


def next_attempt(attempts: int, now: datetime, max_attempts: int) -> datetime | None:
    """When to retry after ``attempts`` failed sends, or None when it is time to give up.

    >>> from datetime import UTC
    >>> t = datetime(2018, 4, 2, 9, tzinfo=UTC)
    >>> [str(next_attempt(n, t, 5) - t) for n in (1, 2, 3, 4)]
    ['0:05:00', '0:10:00', '0:20:00', '0:40:00']
    >>> next_attempt(5, t, 5) is None
    True
    """
    if attempts >= max_attempts:
        return None
    wait: timedelta = BACKOFF * (2 ** (attempts - 1))
    return now + wait
