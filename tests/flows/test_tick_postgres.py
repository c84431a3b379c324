"""Several `duly tick` processes at the same instant on one PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlmodel import Session, select

from flows.db import make_engine
from models.tables import Delivery
from tests.conftest import ROOT


def message_ids(folder: Path) -> list[str]:
    parser = BytesParser(policy=policy.default)
    return [str(parser.parsebytes(p.read_bytes())["Message-ID"]) for p in folder.glob("new/*")]


@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_ticks_send_each_message_exactly_once(postgres_url, tmp_path, processes):
    env = {**os.environ, "DULY_DATABASE_URL": postgres_url}
    ticks = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flows.cli",
                "tick",
                "--at",
                "2018-04-02T09:00",
                "--rules",
                str(ROOT / "rules"),
                "--outbox",
                str(tmp_path / f"outbox-{i}"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    outputs = [t.communicate(timeout=120) for t in ticks]
    assert [t.returncode for t in ticks] == [0] * processes, outputs

    received = [mid for i in range(processes) for mid in message_ids(tmp_path / f"outbox-{i}")]
    engine = make_engine(postgres_url)
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    engine.dispose()
    print(
        f"{processes} ticks: {len(received)} messages received for {len(deliveries)} "
        "deliveries, 0 duplicated"
        if len(received) == len(set(received))
        else "DUPLICATES"
    )
    assert len(deliveries) == 25  # 11 reminders and 14 invites
    assert sorted(received) == sorted(d.message_id for d in deliveries)  # each exactly once
    assert {(d.status, d.attempts) for d in deliveries} == {("sent", 1)}
