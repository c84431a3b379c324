"""The embedded default channel: every message written as a real email into a Maildir.

A newcomer can open ``./outbox`` (or ``DULY_OUTBOX``) with any mail client. Each
message is written to ``tmp/`` and renamed into ``new/``, so a reader never sees
half a message; its file name is derived from the Message-ID, so asking whether a
message was already delivered is one ``stat`` (this is how a crash between
"written" and "recorded" is reconciled without a second copy).
"""

from __future__ import annotations

import hashlib
import os
from email.message import EmailMessage
from pathlib import Path
from typing import Any

__all__ = ["ChannelError", "MaildirOutbox", "default_channel", "default_outbox"]


class ChannelError(Exception):
    """Raised when a channel cannot take a message; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def default_outbox() -> MaildirOutbox:
    return MaildirOutbox(Path(os.environ.get("DULY_OUTBOX", "outbox")))


def default_channel(outbox: Path | None = None) -> MaildirOutbox | Any:
    """Where email goes: the SMTP server named by ``DULY_SMTP_URL``, else the Maildir outbox.

    ``outbox`` (a folder) wins over both: it is what ``duly tick --outbox`` asks for.
    """
    if outbox is not None:
        return MaildirOutbox(outbox)
    url = os.environ.get("DULY_SMTP_URL", "").strip()
    if url:
        from flows.smtp import SmtpChannel

        return SmtpChannel.from_url(url)
    return default_outbox()


class MaildirOutbox:
    """A Maildir (``tmp``, ``new``, ``cur``) that messages are delivered into."""

    name = "maildir"

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _ensure(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _file_name(message_id: str) -> str:
        return hashlib.sha256(message_id.encode()).hexdigest()[:40] + ".duly"

    def describe(self) -> str:
        """Where messages go, for people: the folder."""
        return str(self.folder)

    def has(self, message_id: str) -> bool:
        """True when a message with this Message-ID is already in the Maildir."""
        name = self._file_name(message_id)
        if (self.folder / "new" / name).exists():
            return True
        cur = self.folder / "cur"
        return cur.is_dir() and any(cur.glob(f"{name}:2,*"))

    def send(self, message: EmailMessage) -> None:
        try:
            self._ensure()
            message_id = str(message["Message-ID"])
            name = self._file_name(message_id)
            temporary = self.folder / "tmp" / f"{name}.{os.getpid()}"
            with open(temporary, "wb") as handle:
                handle.write(message.as_bytes())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.folder / "new" / name)
        except OSError as exc:
            raise ChannelError(
                f"cannot write to the outbox {self.folder}: {exc.strerror}"
            ) from exc

    def messages(self) -> list[EmailMessage]:
        """Every message in the outbox, oldest file first (for tests and the README tour)."""
        from email import policy
        from email.parser import BytesParser

        files = sorted(
            [*self.folder.glob("new/*"), *self.folder.glob("cur/*")], key=lambda p: p.name
        )
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(p.read_bytes()) for p in files]  # type: ignore[misc,unused-ignore]
