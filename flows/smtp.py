"""The SMTP channel: messages handed to a mail server over one reused connection.

``DULY_SMTP_URL`` names the server::

    smtp://[user[:password]@]host[:port][?starttls=1&timeout=10]
    smtps://[user[:password]@]host[:port][?timeout=10]

The password may instead come from ``DULY_SMTP_PASSWORD`` (better: it stays out of
process listings and shell history). It is never written anywhere: not in
:meth:`SmtpChannel.describe`, ``repr``, log lines or the text of an error.

One connection is opened on the first message and reused for the next ones
(``smtplib`` on one connection sends hundreds of messages a second; one
connection per message, as apprise's ``mailto://`` does, a few). When the server
has dropped it between two messages, the channel reconnects once, at a point
where the server cannot have taken the message yet, so that never sends twice.

Every failure is a :class:`~flows.outbox.ChannelError`:

- ``permanent=True`` when the server refuses *this message* with a 5xx reply (a
  recipient refused with 550, the content refused at DATA): retrying cannot help,
  so the tick dead-letters it.
- ``permanent=False`` for 4xx replies, a refused connection, a timeout or a
  dropped connection, and for 5xx replies that are about the server or duly's
  configuration rather than the message (authentication refused, the sender
  refused, a greeting or EHLO refused): those would refuse every message alike,
  and must not dead-letter the whole queue; the tick retries them with backoff.

After a connection fails, the channel fails fast for ``fail_fast`` seconds
(default 30) instead of waiting for a timeout once per queued message: a tick
with 400 messages for an unreachable server ends in seconds, not hours.

SMTP cannot be asked whether it already holds a message, so this channel has
no ``has()``: a tick killed between the server's 250 and the database's commit
sends that one message again when its claim is reconciled.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.generator
import functools
import io
import logging
import os
import random
import re
import smtplib
import socket
import ssl
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flows.outbox import ChannelError

__all__ = ["PASSWORD_ENV", "SmtpChannel"]

PASSWORD_ENV = "DULY_SMTP_PASSWORD"
DEFAULT_TIMEOUT = 10.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

log = logging.getLogger("duly.smtp")


class SmtpChannel:
    """Send :class:`~email.message.EmailMessage` objects through one SMTP server."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        ssl_on_connect: bool = False,
        starttls: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
        fail_fast: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if ssl_on_connect and starttls:
            raise ValueError("smtps:// is already encrypted; starttls applies to smtp:// only")
        if password is not None and user is None:
            raise ValueError("an SMTP password needs a user name")
        self.host = host
        self.port = port or (465 if ssl_on_connect else 25)
        self.user = user
        self._password = password
        self.ssl_on_connect = ssl_on_connect
        self.starttls = starttls
        self.timeout = timeout
        self.tls_context = tls_context
        self.fail_fast = fail_fast
        self._clock = clock
        self._smtp: smtplib.SMTP | None = None
        self._down_until = 0.0
        self._down_reason = ""
        self.connections = 0  # how many connections this channel has opened

    # -- configuration ------------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SmtpChannel:
        """A channel from ``smtp://`` or ``smtps://`` URL (see the module's docstring).

        A password in the URL wins over ``DULY_SMTP_PASSWORD``. Raises ValueError,
        whose text never holds the password, on a URL it cannot use.
        """
        text = url.strip()
        parts = urlsplit(text)
        password = parts.password
        redact = _Redactor(password)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError(
                redact(f"DULY_SMTP_URL must start with smtp:// or smtps://, got {scheme!r}")
            )
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            raise ValueError(
                redact(f"DULY_SMTP_URL has a port that is not a number: {_safe_url(parts)}")
            ) from None
        if not host:
            raise ValueError("DULY_SMTP_URL names no host")
        options = {k.lower(): v[-1] for k, v in parse_qs(parts.query, True).items()}
        unknown = sorted(set(options) - {"starttls", "timeout"})
        if unknown:
            raise ValueError(
                redact(
                    f"DULY_SMTP_URL: unknown option(s) {', '.join(unknown)}; "
                    "known: starttls, timeout"
                )
            )
        starttls = _flag(options.get("starttls", "0"), "starttls")
        try:
            timeout = float(options.get("timeout", DEFAULT_TIMEOUT))
        except ValueError:
            raise ValueError("DULY_SMTP_URL: timeout must be a number of seconds") from None
        if not 0 < timeout <= 3600:
            raise ValueError("DULY_SMTP_URL: timeout must be between 0 and 3600 seconds")
        user = unquote(parts.username) if parts.username else None
        secret = unquote(password) if password is not None else None
        if secret is None and user is not None:
            secret = os.environ.get(PASSWORD_ENV) or None
        return cls(
            host,
            port,
            user=user,
            password=secret,
            ssl_on_connect=scheme == "smtps",
            starttls=starttls,
            timeout=timeout,
            **kwargs,
        )

    def describe(self) -> str:
        """Where messages go, for people: ``smtp://user@host:port`` without the password."""
        scheme = "smtps" if self.ssl_on_connect else "smtp"
        who = f"{self.user}@" if self.user else ""
        tls = " (STARTTLS)" if self.starttls else ""
        return f"{scheme}://{who}{self.host}:{self.port}{tls}"

    def __repr__(self) -> str:
        return f"SmtpChannel({self.describe()!r})"

    # -- sending ------------------------------------------------------------------------
    def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; raise :class:`ChannelError` if it is not taken."""
        sender, recipients, data, options = _envelope(message)
        if not recipients:
            raise ChannelError("the message has no recipient (To, Cc or Bcc)", permanent=True)
        for attempt in (1, 2):
            smtp = self._connection()
            try:
                self._transaction(smtp, sender, recipients, data, options)
                return
            except _Dropped as dropped:
                # The server closed an idle connection before it could take the
                # message: open a new one and try once more.
                self._discard()
                if attempt == 2:
                    raise self._error(dropped.reason, permanent=False) from None
                log.info("%s dropped the connection; reconnecting", self.describe())

    def close(self) -> None:
        """Say QUIT and close the connection (a later send opens a new one)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def __enter__(self) -> SmtpChannel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return _Redactor(self._password)(text)

    def _error(self, text: str, *, permanent: bool) -> ChannelError:
        return ChannelError(self._redact(f"{self.describe()}: {text}"), permanent=permanent)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        if self._clock() < self._down_until:
            raise self._error(
                f"{self._down_reason} (not tried again for a few seconds)", permanent=False
            )
        try:
            smtp = self._connect()
        except ChannelError as exc:
            if not exc.permanent:
                self._down_until = self._clock() + self.fail_fast
                self._down_reason = str(exc).removeprefix(f"{self.describe()}: ")
            raise
        self._smtp = smtp
        self._down_until = 0.0
        return smtp

    def _connect(self) -> smtplib.SMTP:
        smtp: smtplib.SMTP | None = None
        try:
            if self.ssl_on_connect:
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    _local_hostname(),
                    timeout=self.timeout,
                    context=self._tls(),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, _local_hostname(), timeout=self.timeout)
            self.connections += 1
            smtp.ehlo()
            if self.starttls:
                if not smtp.has_extn("starttls"):
                    raise self._error("the server does not offer STARTTLS", permanent=False)
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if self.user is not None:
                self._login(smtp)
            log.debug("connected to %s", self.describe())
            return smtp
        except ChannelError:
            _close_quietly(smtp)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(smtp)
            raise self._error(
                f"authentication as {self.user} refused ({exc.smtp_code} {_text(exc.smtp_error)})",
                permanent=False,
            ) from None
        except smtplib.SMTPResponseException as exc:
            _close_quietly(smtp)
            raise self._error(
                f"the server refused the session ({exc.smtp_code} {_text(exc.smtp_error)})",
                permanent=False,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            _close_quietly(smtp)
            raise self._error(f"the server cannot do this: {exc}", permanent=False) from None
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            _close_quietly(smtp)
            raise self._error(
                f"cannot connect: {_describe_os_error(exc)}", permanent=False
            ) from None

    def _tls(self) -> ssl.SSLContext:
        """The client TLS context, made once (loading the system's CAs takes ~0.1 s)."""
        if self.tls_context is None:
            self.tls_context = ssl.create_default_context()
        return self.tls_context

    def _login(self, smtp: smtplib.SMTP) -> None:
        """AUTH; smtplib encodes credentials as ASCII, so others go by PLAIN in UTF-8."""
        assert self.user is not None
        password = self._password or ""
        if (self.user + password).isascii():
            smtp.login(self.user, password)
            return
        if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
            raise self._error(
                "the user name or password is not ASCII, which needs AUTH PLAIN, and the "
                "server does not offer it",
                permanent=False,
            )
        token = base64.b64encode(f"\0{self.user}\0{password}".encode()).decode("ascii")
        code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        _close_quietly(smtp)

    def _transaction(
        self,
        smtp: smtplib.SMTP,
        sender: str,
        recipients: list[str],
        data: bytes,
        options: list[str],
    ) -> None:
        """MAIL, RCPT, DATA on an open connection.

        Raises :class:`_Dropped` when the connection turns out to be gone before
        DATA (safe to retry on a new one), :class:`ChannelError` otherwise.
        """
        if any(not address.isascii() for address in (sender, *recipients)) and not (
            smtp.has_extn("smtputf8")
        ):
            raise self._error(
                "an address is not ASCII and the server does not offer SMTPUTF8",
                permanent=True,
            )
        if smtp.has_extn("8bitmime") and "BODY=8BITMIME" not in options:
            options = [*options, "BODY=8BITMIME"]
        stage = "MAIL FROM"
        try:
            code, reply = smtp.mail(sender, options)
            if code != 250:
                self._reset(smtp, code)
                raise self._error(
                    f"sender {sender} refused ({code} {_text(reply)})",
                    permanent=False,  # the same for every message: never dead-letter for it
                )
            refused: dict[str, tuple[int, str]] = {}
            stage = "RCPT TO"
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = (code, _text(reply))
            if len(refused) == len(recipients):
                self._reset(smtp, max(c for c, _ in refused.values()))
                codes = {c for c, _ in refused.values()}
                detail = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
                raise self._error(
                    f"recipient refused ({detail})",
                    permanent=all(500 <= c < 600 for c in codes),
                )
            stage = "DATA"
            code, reply = smtp.data(data)
            if code != 250:
                self._reset(smtp, code)
                raise self._error(
                    f"message refused at DATA ({code} {_text(reply)})",
                    permanent=500 <= code < 600,
                )
            if refused:  # taken for the others: a retry would send them a second copy
                log.warning(
                    "%s: message taken, but not for %s",
                    self.describe(),
                    self._redact(", ".join(f"{r} ({c})" for r, (c, _) in refused.items())),
                )
        except ChannelError:
            raise
        except smtplib.SMTPServerDisconnected as exc:
            self._discard()
            if stage != "DATA":
                raise _Dropped(f"the server closed the connection ({exc})") from None
            raise self._error(
                "the server closed the connection during DATA; the message may or may "
                "not have been taken",
                permanent=False,
            ) from None
        except smtplib.SMTPResponseException as exc:  # e.g. 421 from smtplib itself
            self._discard()
            raise self._error(
                f"{stage} failed ({exc.smtp_code} {_text(exc.smtp_error)})",
                permanent=500 <= exc.smtp_code < 600 and stage != "MAIL FROM",
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._discard()
            if stage != "DATA" and not isinstance(exc, TimeoutError | socket.timeout):
                raise _Dropped(f"the connection failed ({_describe_os_error(exc)})") from None
            raise self._error(
                f"{stage} failed: {_describe_os_error(exc)}", permanent=False
            ) from None

    def _reset(self, smtp: smtplib.SMTP, code: int) -> None:
        """After a refusal: RSET to reuse the connection, or drop it after a 421."""
        if code == 421:
            self._discard()
            return
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._discard()


class _Dropped(Exception):
    """The connection was gone before the server could take the message."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Redactor:
    """Replaces a secret, and its percent-encoded form, with ``***`` in any text."""

    def __init__(self, secret: str | None):
        forms = set()
        if secret:
            forms = {secret, unquote(secret)}
            from urllib.parse import quote

            forms |= {quote(s, safe="") for s in list(forms)}
        self.forms = sorted((f for f in forms if f), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, "***")
        return text


@functools.cache
def _local_hostname() -> str:
    """The name said in EHLO; smtplib would look it up again for every connection."""
    return socket.getfqdn()


def _safe_url(parts: Any) -> str:
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}"


def _flag(value: str, name: str) -> bool:
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"DULY_SMTP_URL: {name} must be 1 or 0, got {value!r}")


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"disconnected ({exc})" if str(exc) else "disconnected"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, UnicodeError):  # its text could quote a credential: name it only
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    with contextlib.suppress(OSError):
        smtp.close()


class _Generator(email.generator.BytesGenerator):
    """``BytesGenerator``, choosing a multipart's boundary without compiling a regex.

    The standard generator checks that its random boundary starts no line of the
    parts by compiling a pattern for that one boundary, which cost more than the
    rest of writing the message; a plain search first says the same in the (all but
    certain) case where the boundary appears nowhere. The boundary is drawn as the
    standard generator draws it, so the message is the same.
    """

    @classmethod
    def _make_boundary(cls, text: bytes | None = None) -> str:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}" + "=="
        if text is None:
            return boundary
        b, counter = boundary, 0
        while b"--" + b.encode() in text and re.search(
            b"^--" + re.escape(b.encode()) + b"(--)?$", text, re.MULTILINE
        ):
            b = f"{boundary}.{counter}"
            counter += 1
        return b


_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))  # as email.generator pads them


def _envelope(message: EmailMessage) -> tuple[str, list[str], bytes, list[str]]:
    """Sender, recipients and wire bytes, as ``smtplib.send_message`` makes them."""
    sender_field = message["Sender"] or message["From"]
    senders = [a for _, a in getaddresses([str(sender_field)]) if a] if sender_field else []
    sender = senders[0] if senders else ""
    fields = [str(v) for k in ("To", "Cc", "Bcc") for v in message.get_all(k, [])]
    recipients = list(dict.fromkeys(a for _, a in getaddresses(fields) if a))
    wire = message
    if message["Bcc"] is not None or message["Resent-Bcc"] is not None:
        wire = copy.copy(message)  # as smtplib does: ``del`` rebuilds the header list
        del wire["Bcc"]
        del wire["Resent-Bcc"]
    international = any(not a.isascii() for a in (sender, *recipients))
    buffer = io.BytesIO()
    if international:
        utf8 = message.policy.clone(utf8=True)  # type: ignore[call-arg]  # an EmailPolicy
        generator = _Generator(buffer, policy=utf8)
        options = ["SMTPUTF8", "BODY=8BITMIME"]
    else:
        generator = _Generator(buffer)
        options = []
    generator.flatten(wire, linesep="\r\n")
    return sender, recipients, buffer.getvalue(), options
