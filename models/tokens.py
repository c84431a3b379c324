"""Signed action links: the tokens that let an owner act on a commitment from a message.

A token says "owner O may do action A to commitment C until instant E", signed
with HMAC-SHA256 under the server's secret key. It is the whole of an owner's
authority on the web pages: there is no password and no account, so everything
that matters is in the signed part, and checking a token needs only the key and
the time. This module is pure: the key and ``now`` are passed in; the shell
(``flows/links.py``) keeps the key and remembers which tokens have acted.

The token is ``<payload>.<signature>``, both base64url without padding; the
payload is ``v1``, the commitment uid, the owner id, the action and the expiry
(Unix seconds), separated by newlines (none of them can hold one).

>>> from datetime import UTC, datetime
>>> key, now = b"k" * 32, datetime(2018, 4, 2, 8, tzinfo=UTC)
>>> token = sign(key, "r/sla", "lo-head", "done", expiry_for(now))
>>> verify(key, token, now=now, commitment="r/sla").owner
'lo-head'
>>> verify(key, token, now=now, commitment="r/other")
Traceback (most recent call last):
...
models.tokens.TokenRefused: This link is for another commitment.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = [
    "LINK_ACTIONS",
    "LINK_LIFETIME",
    "LinkClaims",
    "Reason",
    "TokenRefused",
    "check_csrf",
    "csrf_token",
    "expiry_for",
    "sign",
    "token_id",
    "verify",
]

LINK_ACTIONS: tuple[str, ...] = ("in_progress", "done", "more_time", "not_mine")
"""The actions a link can carry, in the order messages show them."""
LINK_LIFETIME = timedelta(days=60)
"""How long a link works after its message is written."""
VERSION = "v1"
MAX_TOKEN_CHARS = 1000

Reason = Literal[
    "malformed", "tampered", "wrong_commitment", "wrong_action", "expired", "replayed", "owner"
]

_MESSAGES: dict[str, str] = {
    "malformed": "This link is incomplete or damaged.",
    "tampered": "This link has been altered, so it cannot be trusted.",
    "wrong_commitment": "This link is for another commitment.",
    "wrong_action": "This link is for another action.",
    "expired": "This link has expired.",
    "replayed": "This link has already been used.",
    "owner": "This link was sent to someone who no longer owns this commitment.",
}


class TokenRefused(ValueError):
    """A token that grants nothing, and why; ``reason`` is one of :data:`Reason`."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(_MESSAGES[reason] + (f" {detail}" if detail else ""))
        self.reason: Reason = reason
        self.detail = detail


@dataclass(frozen=True)
class LinkClaims:
    """What a valid token says."""

    commitment: str
    owner: str
    action: str
    expires: datetime
    token_id: str  # what is remembered once the token has acted


def expiry_for(now: datetime, lifetime: timedelta = LINK_LIFETIME) -> datetime:
    """When a link written at ``now`` stops working (to the second)."""
    return (now + lifetime).astimezone(UTC).replace(microsecond=0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: bytes, data: bytes) -> bytes:
    return hmac.new(key, purpose + b"\x00" + data, hashlib.sha256).digest()


def sign(key: bytes, commitment: str, owner: str, action: str, expires: datetime) -> str:
    """The token for ``owner`` to do ``action`` to ``commitment`` until ``expires``."""
    if action not in LINK_ACTIONS:
        raise ValueError(f"unknown link action {action!r}; one of: {', '.join(LINK_ACTIONS)}")
    if not key:
        raise ValueError("the signing key is empty")
    for name, value in (("commitment", commitment), ("owner", owner)):
        if not value or "\n" in value:
            raise ValueError(f"the {name} id must be one non-empty line")
    stamp = int(expires.astimezone(UTC).timestamp())
    payload = "\n".join((VERSION, commitment, owner, action, str(stamp))).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, b'link', payload))}"


def token_id(token: str) -> str:
    """A short, stable id of a token, for the table of tokens that have acted."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]


def verify(
    key: bytes,
    token: str,
    *,
    now: datetime,
    commitment: str | None = None,
    action: str | None = None,
) -> LinkClaims:
    """Check a token as of ``now``; raise :class:`TokenRefused` saying why it fails.

    The signature is checked first (a damaged or altered token says nothing
    else), then the commitment and action it is for (when given), then its expiry.
    Whether it has already acted is the caller's to check (it needs a table).
    """
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenRefused("malformed")
    encoded, signature = token.split(".")
    try:
        payload = _unb64(encoded)
        given = _unb64(signature)
    except (binascii.Error, ValueError):
        raise TokenRefused("malformed") from None
    if _b64(payload) != encoded or _b64(given) != signature:
        raise TokenRefused("tampered")  # base64's spare bits changed: one token, one spelling
    if not hmac.compare_digest(given, _mac(key, b"link", payload)):
        raise TokenRefused("tampered")
    try:
        version, uid, owner, act, stamp = payload.decode("utf-8").split("\n")
        expires = datetime.fromtimestamp(int(stamp), UTC)
    except (UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise TokenRefused("malformed") from None
    if version != VERSION or act not in LINK_ACTIONS:
        raise TokenRefused("malformed")
    if commitment is not None and uid != commitment:
        raise TokenRefused("wrong_commitment")
    if action is not None and act != action:
        raise TokenRefused("wrong_action")
    if now >= expires:
        raise TokenRefused("expired", f"It stopped working on {expires:%d %B %Y}.")
    return LinkClaims(uid, owner, act, expires, token_id(token))


def csrf_token(key: bytes, token: str) -> str:
    """The form token that goes with a link token: a POST must carry both.

    A page shows it in its forms; a site elsewhere cannot compute it without the
    link token, and a link scanner never posts.
    """
    return _b64(_mac(key, b"csrf", token.encode("utf-8", "replace")))


def check_csrf(key: bytes, token: str, given: str) -> bool:
    """True when ``given`` is the form token of ``token`` (compared in constant time)."""
    return hmac.compare_digest(csrf_token(key, token).encode(), given.encode("utf-8", "replace"))
