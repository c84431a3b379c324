"""Helpers for tests that read a real outbox: run `duly tick`, read the messages' links."""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import RULES

_URL = re.compile(r"https?://[^\s\"'<>]+")


@dataclass
class Mail:
    path: Path
    to: str
    subject: str
    text: str
    html: str
    calendar: str

    @property
    def links(self) -> list[str]:
        found = _URL.findall(self.text) + [html.unescape(u) for u in _URL.findall(self.html)]
        return list(dict.fromkeys(found))


def tick(at: str, outbox: Path) -> str:
    """`duly tick --at AT` into ``outbox`` (the database from DULY_DATABASE_URL)."""
    from flows.cli import app

    result = CliRunner().invoke(
        app, ["tick", "--at", at, "--outbox", str(outbox), "--rules", str(RULES)]
    )
    assert result.exit_code == 0, result.output
    return result.output


def read_outbox(outbox: Path) -> list[Mail]:
    mails = []
    for path in sorted((outbox / "new").iterdir()):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        parts = {"text/plain": "", "text/html": "", "text/calendar": ""}
        for part in message.walk():
            kind = part.get_content_type()
            if kind in parts and not parts[kind]:
                parts[kind] = part.get_content()
        mails.append(
            Mail(
                path,
                str(message["To"]),
                str(message["Subject"]).strip(),
                parts["text/plain"],
                parts["text/html"],
                parts["text/calendar"],
            )
        )
    return mails
