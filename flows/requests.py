"""What an owner asks for rather than does: more time, or "this is not mine"; and evidence.

Shared by the web pages (``flows/web.py``), the emailed answers
(``flows/text_replies.py``) and ``duly requests`` (``flows/cli_web.py``), so each
records the same thing. Like :mod:`flows.actions`, every function runs inside
the caller's transaction and commits nothing itself.

- :func:`request_more_time` records a :class:`~models.tables.TimeRequest` and a
  line in the commitment's history. It never moves a date: the rule files say
  what was promised, and an admin who grants a request edits the due date there.
- :func:`decide_request` grants or refuses one, in the history too.
- :func:`not_mine` tells the owner's ``escalate_to`` (a queued message, step
  ``not-mine``) and records it in the history.
- :func:`store_evidence` keeps an uploaded file under ``DULY_EVIDENCE_DIR``
  (default ``./evidence``), within a size limit and a list of file types whose
  first bytes are checked, not only their names.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlmodel import Session, col, select

from flows.db import StateError
from flows.invites import notice_values
from models.rules import RuleSet
from models.tables import CommitmentRow, StateChange, TimeRequest

__all__ = [
    "EVIDENCE_TYPES",
    "MAX_EVIDENCE_BYTES",
    "EvidenceRejected",
    "NoticeResult",
    "decide_request",
    "evidence_dir",
    "list_requests",
    "not_mine",
    "request_more_time",
    "store_evidence",
]

MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
"""The largest evidence file taken (10 MiB)."""


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _zip(data: bytes) -> bool:
    return data.startswith(b"PK\x03\x04")


EVIDENCE_TYPES = {
    "pdf": lambda d: d.startswith(b"%PDF-"),
    "docx": _zip,
    "xlsx": _zip,
    "png": lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"),
    "jpg": lambda d: d.startswith(b"\xff\xd8\xff"),
    "jpeg": lambda d: d.startswith(b"\xff\xd8\xff"),
    "txt": _is_text,
    "eml": _is_text,
}
"""Evidence file types: extension -> a check of the file's content."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class EvidenceRejected(ValueError):
    """An evidence file that is not kept, and why (a sentence for the owner)."""


@dataclass
class NoticeResult:
    uid: str
    notices: list[str] = field(default_factory=list)  # delivery keys queued


def _row(session: Session, rules: RuleSet, commitment: str) -> CommitmentRow:
    try:
        uid = rules.resolve(commitment)
    except LookupError as exc:
        raise StateError(str(exc)) from None
    row = session.get(CommitmentRow, uid)
    if row is None:
        raise StateError(f"commitment '{uid}' is not in the database yet; run duly sync")
    return row


def _today(rules: RuleSet, uid: str, now: datetime) -> date:
    return now.astimezone(rules.policy_of(rules.commitments[uid]).zone).date()


def request_more_time(
    session: Session,
    rules: RuleSet,
    commitment: str,
    *,
    owner: str,
    who: str,
    until: date,
    why: str,
    now: datetime,
) -> TimeRequest:
    """Record an owner's request to move a commitment's date to ``until``, with a reason."""
    row = _row(session, rules, commitment)
    if not why.strip():
        raise StateError("say why more time is needed")
    today = _today(rules, row.uid, now)
    if until <= today:
        raise StateError(f"the new date must be after today ({today.isoformat()})")
    if row.state in ("done", "dropped", "superseded"):
        raise StateError(f"commitment '{row.uid}' is {row.state}: there is nothing to extend")
    request = TimeRequest(
        commitment_uid=row.uid,
        owner_id=owner,
        asked_by=who,
        asked_at=now,
        until=until,
        due=row.due,
        why=why.strip(),
    )
    session.add(request)
    was = f" (due {row.due.isoformat()})" if row.due else ""
    session.add(
        StateChange(
            commitment_uid=row.uid,
            state=row.state,
            at=now,
            who=who,
            why=f"asked for more time{was}, until {until.isoformat()}: {why.strip()}",
            event="more-time",
        )
    )
    session.flush()
    return request


def decide_request(
    session: Session,
    rules: RuleSet,
    request_id: int,
    *,
    grant: bool,
    who: str,
    why: str,
    now: datetime,
) -> TimeRequest:
    """Grant or refuse a pending request (a refusal needs a reason). Granting records the
    decision; the due date itself changes when an admin edits the rule file."""
    request = session.get(TimeRequest, request_id)
    if request is None:
        raise StateError(f"there is no request {request_id}")
    if request.status != "pending":
        raise StateError(f"request {request_id} was already {request.status}")
    if not grant and not why.strip():
        raise StateError("say why the request is refused")
    request.status = "granted" if grant else "refused"
    request.decided_by, request.decided_at, request.decision_why = who, now, why.strip()
    session.add(request)
    row = session.get(CommitmentRow, request.commitment_uid)
    verdict = (
        f"more time granted until {request.until.isoformat()} (request {request_id}); "
        "the due date changes when the rule file is edited"
        if grant
        else f"more time until {request.until.isoformat()} refused (request {request_id})"
    )
    session.add(
        StateChange(
            commitment_uid=request.commitment_uid,
            state=row.state if row else "open",
            at=now,
            who=who,
            why=verdict + (f": {why.strip()}" if why.strip() else ""),
            event="more-time-granted" if grant else "more-time-refused",
        )
    )
    session.flush()
    return request


def list_requests(session: Session, *, pending_only: bool = True) -> list[TimeRequest]:
    """Requests for more time, oldest first (only those awaiting a decision by default)."""
    statement = select(TimeRequest).order_by(col(TimeRequest.asked_at), col(TimeRequest.id))
    if pending_only:
        statement = statement.where(col(TimeRequest.status) == "pending")
    return list(session.exec(statement).all())


def not_mine(
    session: Session,
    rules: RuleSet,
    commitment: str,
    *,
    owner: str,
    who: str,
    why: str,
    now: datetime,
) -> NoticeResult:
    """Tell the owner's ``escalate_to`` that the owner says the commitment is not theirs."""
    row = _row(session, rules, commitment)
    c = rules.commitments[row.uid]
    holder = rules.owners.get(owner) or rules.owners[c.owner]
    boss = rules.owners.get(holder.escalate_to) if holder.escalate_to else None
    if boss is None:
        raise StateError(
            f"{holder.name} escalates to nobody in the rules, so there is no one to tell; "
            "ask a duly administrator to reassign it"
        )
    said = f': "{why.strip()}"' if why.strip() else ""
    stamp = now.astimezone(UTC)
    notice = notice_values(
        rules,
        commitment_uid=row.uid,
        step="not-mine",
        occurrence=_today(rules, row.uid, now),
        recipient=boss,
        reason=f"{holder.name} says '{c.action}' is not theirs{said}",
        now=now,
        token=f"{holder.id}-{stamp:%Y%m%dT%H%M%SZ}",
    )
    from flows.tick import _insert_ignoring_duplicates

    _insert_ignoring_duplicates(session, [notice])
    session.add(
        StateChange(
            commitment_uid=row.uid,
            state=row.state,
            at=now,
            who=who,
            why=f"says it is not theirs; {boss.name} told" + (f": {why.strip()}" if why else ""),
            event="not-mine",
        )
    )
    session.flush()
    return NoticeResult(row.uid, [notice["key"]])


def evidence_dir() -> Path:
    return Path(os.environ.get("DULY_EVIDENCE_DIR") or "evidence")


def store_evidence(
    commitment_uid: str,
    filename: str,
    data: bytes,
    now: datetime,
    folder: Path | None = None,
) -> str:
    """Keep an evidence file; return what the history records of it (its path and digest).

    Refused (:class:`EvidenceRejected`): an empty file, one over
    :data:`MAX_EVIDENCE_BYTES`, a type not in :data:`EVIDENCE_TYPES`, or content
    that does not match its type. The stored name is made of safe characters
    only, under a folder per commitment, so a name cannot climb out of it.
    """
    if not data:
        raise EvidenceRejected("the file is empty")
    if len(data) > MAX_EVIDENCE_BYTES:
        raise EvidenceRejected(
            f"the file is {len(data):,} bytes; the limit is {MAX_EVIDENCE_BYTES:,} bytes"
        )
    base = Path(filename.replace("\\", "/")).name
    extension = base.rsplit(".", 1)[-1].lower() if "." in base else ""
    check = EVIDENCE_TYPES.get(extension)
    if check is None:
        kinds = ", ".join(sorted({k for k in EVIDENCE_TYPES if k != "jpeg"}))
        raise EvidenceRejected(f"files of this type are not taken; send one of: {kinds}")
    if not check(data):
        raise EvidenceRejected(f"the file's content is not that of a .{extension} file")
    digest = hashlib.sha256(data).hexdigest()
    stem = _UNSAFE.sub("-", base.rsplit(".", 1)[0]).strip("-.")[:60] or "evidence"
    stamp = now.astimezone(UTC)
    name = f"{stamp:%Y%m%dT%H%M%SZ}-{digest[:12]}-{stem}.{extension}"
    sub = _UNSAFE.sub("-", commitment_uid.replace("/", "--")).strip("-.") or "commitment"
    root = folder if folder is not None else evidence_dir()
    target = root / sub / name
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{name}.part")
    temporary.write_bytes(data)
    temporary.replace(target)
    return f"file {sub}/{name} (sha256 {digest})"
