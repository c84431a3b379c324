"""Signed action links in messages: the secret key, the URLs, and which links have acted.

:func:`action_links` gives the four URLs a reminder or invite shows ("Mark in
progress", "Mark done (with evidence)", "Ask for more time", "This is not
mine"), each carrying a token from :mod:`models.tokens`. The key signing them is
``DULY_SECRET_KEY`` when set; otherwise a random key created once, readable by
its owner only, and kept beside the database: next to the SQLite file
(``duly.db`` -> ``duly.key``), or at ``DULY_SECRET_KEY_FILE`` (default
``./duly.key``) for other databases. The web pages are at ``DULY_WEB_URL``
(default ``http://127.0.0.1:8000``).

A token acts once: :func:`check_link` refuses one recorded in the ``used_token``
table, and :func:`spend` records it in the same transaction as the action, so
two clicks racing each other act once (the second insert fails and rolls back).
"""

from __future__ import annotations

import os
import secrets
import time
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlmodel import Session

from models.rules import RuleSet
from models.tables import UsedToken
from models.tokens import (
    LINK_ACTIONS,
    LinkClaims,
    TokenRefused,
    expiry_for,
    sign,
    verify,
)

__all__ = [
    "DEFAULT_WEB_URL",
    "action_links",
    "check_link",
    "commitment_url",
    "key_file",
    "may_act",
    "secret_key",
    "spend",
    "web_url",
]

DEFAULT_WEB_URL = "http://127.0.0.1:8000"
DEFAULT_KEY_FILE = "duly.key"
_KEY_BYTES = 32


def web_url() -> str:
    """Where the owners' pages are served, without a trailing slash."""
    return (os.environ.get("DULY_WEB_URL") or DEFAULT_WEB_URL).rstrip("/")


def key_file(database: str | None = None) -> Path:
    """Where the generated key lives for the database at ``database`` (a URL)."""
    from flows.db import database_url

    url = database_url(database)
    if url.startswith("sqlite:///"):
        name = url.removeprefix("sqlite:///").split("?", 1)[0]
        if name and name != ":memory:":
            return Path(name).with_suffix(".key")
    return Path(os.environ.get("DULY_SECRET_KEY_FILE") or DEFAULT_KEY_FILE)


def secret_key(database: str | None = None) -> bytes:
    """The key that signs links: ``DULY_SECRET_KEY``, or the key file, created if missing.

    The file is written whole under a temporary name, then linked into place, so
    two processes starting at once agree on one key, and nobody reads half a key.
    """
    given = os.environ.get("DULY_SECRET_KEY", "")
    if given:
        return given.encode("utf-8")
    path = key_file(database)
    for _ in range(50):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            _create_key(path)
            continue
        if text:
            return bytes.fromhex(text)
        time.sleep(0.01)  # pragma: no cover - an empty file: someone else's write in flight
    raise RuntimeError(f"the key file {path} stays empty; remove it to make a new key")


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(_KEY_BYTES) + "\n")
        with suppress(FileExistsError):  # another process made one first: theirs wins
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def commitment_url(commitment_uid: str, token: str, base: str | None = None) -> str:
    """The page of a commitment, opened with a token."""
    return f"{base or web_url()}/c/{quote(commitment_uid, safe='/')}?t={token}"


def action_links(
    commitment_uid: str,
    owner_id: str,
    now: datetime,
    *,
    key: bytes | None = None,
    base: str | None = None,
    database: str | None = None,
) -> dict[str, str]:
    """The four action URLs of a message to ``owner_id`` about a commitment, written at
    ``now``: ``{"in_progress": url, "done": url, "more_time": url, "not_mine": url}``.

    Each works for :data:`~models.tokens.LINK_LIFETIME` after ``now``. Opening one
    shows a page and changes nothing; only the form on that page acts. The key is
    ``key``, else that of ``database`` (a URL; default ``DULY_DATABASE_URL``): a
    caller working on another database than the default passes its URL, so the
    links are signed with the key ``duly web`` on that database checks them with.
    """
    key = key if key is not None else secret_key(database)
    expires = expiry_for(now)
    return {
        action: commitment_url(
            commitment_uid, sign(key, commitment_uid, owner_id, action, expires), base
        )
        for action in LINK_ACTIONS
    }


def may_act(rules: RuleSet, owner_id: str, commitment_uid: str) -> bool:
    """True when ``owner_id`` owns the commitment now, or is in its owner's escalation
    chain (an escalation message may carry links too)."""
    c = rules.commitments.get(commitment_uid)
    if c is None:
        return False
    current: str | None = c.owner
    seen: set[str] = set()
    while current is not None and current not in seen:
        if current == owner_id:
            return True
        seen.add(current)
        owner = rules.owners.get(current)
        current = owner.escalate_to if owner else None
    return False


def check_link(
    session: Session,
    rules: RuleSet,
    key: bytes,
    token: str,
    *,
    commitment: str,
    now: datetime,
    action: str | None = None,
) -> LinkClaims:
    """A token checked for this commitment (and action) as of ``now``, not yet used,
    and held by someone who may still act on it. Raises
    :class:`~models.tokens.TokenRefused` with the reason."""
    claims = verify(key, token, now=now, commitment=commitment, action=action)
    if commitment not in rules.commitments:
        raise TokenRefused("wrong_commitment", "That commitment is no longer in the rules.")
    if session.get(UsedToken, claims.token_id) is not None:
        raise TokenRefused("replayed")
    if not may_act(rules, claims.owner, commitment):
        raise TokenRefused("owner")
    return claims


def spend(session: Session, claims: LinkClaims, now: datetime) -> None:
    """Record that a token has acted (flushed now: a second use fails here)."""
    session.add(
        UsedToken(
            token_id=claims.token_id,
            commitment_uid=claims.commitment,
            owner_id=claims.owner,
            action=claims.action,
            used_at=now.astimezone(UTC),
        )
    )
    session.flush()
