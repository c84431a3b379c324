"""A real SMTP server on loopback for tests: aiosmtpd in a thread, with faults on demand.

Use it as a context manager (or through the ``smtp_server`` fixture that
``tests/flows/test_smtp.py`` and ``tests/faults`` define from it)::

    with SmtpServer() as server:                 # listens on 127.0.0.1, a free port
        os.environ["DULY_SMTP_URL"] = server.url  # smtp://127.0.0.1:PORT
        ...send...
        server.message_ids()       # every copy received, in order (duplicates kept)
        server.wait_for(10)        # block until 10 copies in all have arrived
        server.messages["<id@duly>"]   # the first copy, parsed (EmailMessage)
        server.connections         # connections opened since start (or reset())

Faults, switched at any time from the test's thread:

- ``server.refuse(451)`` / ``server.refuse(550, stage="data")`` / ``server.refuse(421,
  stage="mail")``: every message is refused with that code at that stage
  (``"mail"``, ``"rcpt"`` or ``"data"``); ``server.refuse(None)`` accepts again.
  A 421 also closes the connection, as real servers do.
- ``server.refuse_address("x@example.org")``: that recipient is refused with 550
  (another code with ``code=``), the rest are accepted.
- ``server.down()`` stops listening (connections are refused); ``server.up()``
  listens again on the same port. Messages received so far are kept.
- ``server.drop_connections()`` closes every open connection from the server side,
  as a server does to idle clients.
- ``SmtpServer(auth=("user", "password"))`` requires AUTH (PLAIN or LOGIN, over
  plain text: it is loopback) before MAIL.
- ``SmtpServer(tls=context)`` offers STARTTLS with that server-side SSLContext;
  with ``implicit_tls=True`` it speaks TLS from the start (``smtps://``).

Everything it records is guarded by a lock, so a test may read while a child
process is sending.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
import warnings
from collections import Counter
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

__all__ = ["SmtpServer"]

_PARSER = BytesParser(policy=policy.default)

# aiosmtpd's own notes about test set-ups (AUTH over plain text on loopback, and a
# deprecated attribute it sets itself on every login): expected here, not news.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")
logging.getLogger("mail.log").setLevel(logging.ERROR)  # the same notes, logged


class _Handler:
    def __init__(self, owner: SmtpServer):
        self.owner = owner

    async def handle_MAIL(self, server, session, envelope, address, options):
        refusal = self.owner._refusal("mail")
        if refusal:
            if refusal.startswith("421"):
                asyncio.get_running_loop().call_soon(server.transport.close)
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        refusal = self.owner._refusal("rcpt", address)
        if refusal:
            if refusal.startswith("421"):
                asyncio.get_running_loop().call_soon(server.transport.close)
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refusal = self.owner._refusal("data")
        if refusal:
            if refusal.startswith("421"):
                asyncio.get_running_loop().call_soon(server.transport.close)
            return refusal
        self.owner._record(envelope)
        return "250 Message accepted for delivery"


class _CountingSMTP(SMTP):
    def __init__(self, owner: SmtpServer, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._owner = owner

    def connection_made(self, transport: Any) -> None:
        upgraded = self.transport is not None  # STARTTLS calls this again, with TLS
        super().connection_made(transport)
        self._owner._opened(transport, counted=not upgraded)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._closed(self.transport)
        super().connection_lost(exc)


class _Controller(Controller):
    def __init__(self, owner: SmtpServer, port: int, **kwargs: Any):
        super().__init__(owner._handler, hostname="127.0.0.1", port=port, **kwargs)
        self._owner = owner

    def factory(self) -> SMTP:
        return _CountingSMTP(self._owner, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # With port 0 the operating system chose the port: learn it before the
        # base class connects to it.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """aiosmtpd on 127.0.0.1 that records what it receives and fails when told to."""

    def __init__(
        self,
        port: int = 0,
        *,
        auth: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ):
        self.port = port
        self.auth = auth
        self.tls = tls
        self.implicit_tls = implicit_tls
        self._handler = _Handler(self)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._controller: _Controller | None = None
        self._refuse: tuple[int, str] | None = None
        self._refuse_text = ""
        self._refused_addresses: dict[str, int] = {}
        self._transports: set[Any] = set()
        self.raw: list[bytes] = []  # every message received, as bytes, in order
        self.envelopes: list[tuple[str, tuple[str, ...]]] = []  # (MAIL FROM, RCPT TOs)
        self.connections = 0
        self.refusals = 0  # commands refused because of refuse()/refuse_address()

    # -- life ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:PORT`` (with ``user:password@`` when auth is on)."""
        who = f"{self.auth[0]}:{self.auth[1]}@" if self.auth else ""
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{who}127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._controller is not None

    def start(self) -> SmtpServer:
        self.up()
        return self

    def up(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {"ready_timeout": 10.0, "server_hostname": "smtp.test"}
        if self.tls is not None:
            kwargs["ssl_context" if self.implicit_tls else "tls_context"] = self.tls
        if self.auth:
            kwargs.update(
                authenticator=self._authenticate, auth_require_tls=False, auth_required=True
            )
        controller = _Controller(self, self.port, **kwargs)
        controller.start()
        self.port = controller.port
        self._controller = controller
        with self._lock:  # the controller's own start-up probe is not a client
            self.connections = 0

    def down(self) -> None:
        """Stop listening: new connections are refused, open ones are closed."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        with self._lock:
            self._transports.clear()

    stop = down

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.down()

    # -- faults -------------------------------------------------------------------------
    def refuse(self, code: int | None, text: str = "", *, stage: str = "rcpt") -> None:
        """Refuse every message with ``code`` at ``stage`` (mail, rcpt, data); None accepts."""
        if stage not in ("mail", "rcpt", "data"):
            raise ValueError(f"stage is mail, rcpt or data, not {stage!r}")
        with self._lock:
            self._refuse = None if code is None else (code, stage)
            self._refuse_text = text or _DEFAULT_TEXT.get(code or 0, "refused for the test")

    def refuse_address(self, address: str, code: int = 550) -> None:
        """Refuse this recipient (compared without case) with ``code``; others are taken."""
        with self._lock:
            self._refused_addresses[address.lower()] = code

    def drop_connections(self) -> None:
        """Close every open connection from the server's side."""
        controller = self._controller
        with self._lock:
            transports = list(self._transports)
        if controller is not None:
            for transport in transports:
                controller.loop.call_soon_threadsafe(transport.close)

    def reset(self) -> None:
        """Forget what was received and counted (faults stay as they are)."""
        with self._lock:
            self.raw.clear()
            self.envelopes.clear()
            self.connections = 0
            self.refusals = 0

    # -- what was received --------------------------------------------------------------
    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` copies in all have arrived; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.raw) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
        return True

    def message_ids(self) -> list[str]:
        """The Message-ID of every copy received, in order of arrival (duplicates kept)."""
        with self._lock:
            raw = list(self.raw)
        return [str(_PARSER.parsebytes(r, headersonly=True)["Message-ID"]) for r in raw]

    def counts(self) -> Counter[str]:
        """How many copies of each Message-ID arrived."""
        return Counter(self.message_ids())

    @property
    def messages(self) -> dict[str, EmailMessage]:
        """The first copy of each message, parsed, by Message-ID."""
        with self._lock:
            raw = list(self.raw)
        found: dict[str, EmailMessage] = {}
        for data in raw:
            message = _PARSER.parsebytes(data)
            found.setdefault(str(message["Message-ID"]), message)  # type: ignore[arg-type]
        return found

    # -- called from the server's thread ------------------------------------------------
    def _refusal(self, stage: str, address: str | None = None) -> str | None:
        with self._lock:
            if address is not None and address.lower() in self._refused_addresses:
                self.refusals += 1
                code = self._refused_addresses[address.lower()]
                return f"{code} {_DEFAULT_TEXT.get(code, 'refused')}: <{address}>"
            if self._refuse is not None and self._refuse[1] == stage:
                self.refusals += 1
                return f"{self._refuse[0]} {self._refuse_text}"
        return None

    def _record(self, envelope: Any) -> None:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        with self._lock:
            self.raw.append(bytes(content))
            self.envelopes.append((envelope.mail_from, tuple(envelope.rcpt_tos)))
            self._arrived.notify_all()

    def _opened(self, transport: Any, *, counted: bool = True) -> None:
        with self._lock:
            self.connections += counted
            self._transports.add(transport)

    def _closed(self, transport: Any) -> None:
        with self._lock:
            self._transports.discard(transport)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert self.auth is not None
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.auth[0]
            and auth_data.password.decode() == self.auth[1]
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


_DEFAULT_TEXT = {
    421: "Service not available, closing transmission channel",
    450: "Mailbox unavailable, try again later",
    451: "Local error in processing, try again later",
    452: "Insufficient system storage",
    550: "Mailbox unavailable",
    552: "Message size exceeds fixed maximum message size",
    554: "Transaction failed",
}
