"""Secrets in the channel URL never reach logs, errors, output or the Delivery table."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlmodel import Session, select

from flows.db import create_schema, make_engine
from flows.rulefiles import load_rules
from flows.smtp import SmtpChannel
from flows.tick import deliver, tick
from models.tables import Delivery
from tests.faults.portfolio import AT, write_rules
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
SECRET = "s3cr3t-P@ss/w0rd"
FORMS = (SECRET, quote(SECRET, safe=""), "s3cr3t")


def _clean(texts) -> list[str]:
    return [t for t in texts if any(f in (t or "") for f in FORMS)]


def test_smtp_password_stays_out_of_logs_errors_and_the_delivery_table(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    rules = load_rules([write_rules(tmp_path / "rules", 5)])
    engine = make_engine(f"sqlite:///{tmp_path / 'duly.db'}")
    create_schema(engine)
    texts: list[str] = []
    with SmtpServer(auth=("duly", SECRET + "-other")) as server:  # the password is wrong
        url = f"smtp://duly:{quote(SECRET, safe='')}@127.0.0.1:{server.port}"
        with SmtpChannel.from_url(url) as channel:
            result = tick(engine, rules, AT, channel)
        server.down()  # then the server goes away
        with SmtpChannel.from_url(url) as channel:
            later = deliver(engine, channel, AT + timedelta(hours=1))
        texts += [e for _, e in result.delivery.errors + later.errors]
    with Session(engine) as session:
        errors = [d.last_error for d in session.exec(select(Delivery)).all()]
    engine.dispose()
    texts += errors + [r.getMessage() for r in caplog.records] + [caplog.text]
    print(
        f"\n{len(errors)} deliveries failed (auth refused, then server down); "
        f"{len(texts)} error texts and log lines checked: "
        f"{len(_clean(texts))} hold the password"
    )
    assert result.delivery.retrying == len(errors) > 0  # refused auth is transient
    assert all("authentication" in e or "connect" in e for e in errors)
    assert not _clean(texts)


def test_duly_tick_output_never_shows_the_password(tmp_path):
    rules = write_rules(tmp_path / "rules", 3)
    with SmtpServer(auth=("duly", "right")) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DULY_")}
        env["DULY_SMTP_URL"] = f"smtp://duly:{quote(SECRET, safe='')}@127.0.0.1:{server.port}"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "flows.cli",
                "tick",
                "--at",
                AT.isoformat(),
                "--rules",
                str(rules),
                "--database",
                f"sqlite:///{tmp_path / 'duly.db'}",
                "-v",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    print(
        f"\nduly tick with a wrong SMTP password: exit {run.returncode}, "
        f"{len(run.stdout) + len(run.stderr)} characters of output, "
        f"{len(_clean([run.stdout, run.stderr]))} streams hold the password"
    )
    assert run.returncode == 0, run.stderr
    assert "authentication as duly refused" in run.stderr
    assert "smtp://duly@127.0.0.1" in run.stdout  # describe(), without the password
    assert not _clean([run.stdout, run.stderr])


@pytest.mark.parametrize(
    "url",
    [
        f"mailtos://duly:{quote(SECRET, safe='')}@mail.example.org?to=x@example.org",
        f"mailto://duly:{quote(SECRET, safe='')}@mail.example.org",
        f"smtp://duly:{quote(SECRET, safe='')}@mail.example.org:notaport",
        f"smtp://duly:{quote(SECRET, safe='')}@mail.example.org?bogus=1",
    ],
)
def test_an_apprise_style_or_broken_url_is_refused_without_the_password(url):
    with pytest.raises(ValueError) as caught:
        SmtpChannel.from_url(url)
    assert not _clean([str(caught.value), repr(caught.value)])
