from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from isms_campaigns.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def test_demo_prints_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--data", str(ROOT / "data")]) == 0
    out = capsys.readouterr().out
    assert "nothing has been sent" in out
    assert re.search(r"Total: [\d,]+ messages, [\d,]+ credits", out)
    assert "skipped: duplicate" in out


def test_estimate_writes_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.csv"
    code = main(
        [
            "estimate",
            str(ROOT / "data" / "sample_contacts.csv"),
            "--template",
            "Hi %name%",
            "--fallback",
            "name=Customer",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert out.read_text(encoding="utf-8").count("\n") == 321  # header + every row


def test_errors_are_one_line_without_traceback() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "isms_campaigns.cli",
            "estimate",
            str(ROOT / "data" / "sample_contacts.csv"),
            "--template",
            "Hi %nmae%",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("error: Unknown token %nmae%")
    assert "Traceback" not in run.stderr


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        assert sub.format_help().strip()
        assert f"isms-campaigns {name}" in readme, f"README does not document '{name}'"


def test_balance_command_against_the_simulator(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from isms_campaigns.simulator import Account, Simulator

    sim = Simulator([Account(balance=1500), Account("post", "pw", balance=None)], hosts=2)
    with sim.serve() as urls:
        monkeypatch.setenv("ISMS_USERNAME", "demo")
        monkeypatch.setenv("ISMS_PASSWORD", "demo")
        assert main(["balance", "--hosts", *urls]) == 0
        assert "Balance: 1,500 credits" in capsys.readouterr().out
        monkeypatch.setenv("ISMS_USERNAME", "post")
        monkeypatch.setenv("ISMS_PASSWORD", "pw")
        assert main(["balance", "--hosts", *urls]) == 0
        assert "Postpaid" in capsys.readouterr().out
        monkeypatch.setenv("ISMS_PASSWORD", "wrong")
        assert main(["balance", "--hosts", *urls]) == 2
        assert "error: Balance refused: -1001" in capsys.readouterr().err


def test_simulator_command_serves_four_hosts(tmp_path: Path) -> None:
    import signal

    from isms_campaigns.gateway import Sent
    from isms_campaigns.gateway.client import Gateway

    log = tmp_path / "dlr.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "isms_campaigns.cli",
            "simulator",
            "--port",
            "0",
            "--hosts",
            "4",
            "--callback-log",
            str(log),
            "--dlr-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "serving" in proc.stdout.readline()
        urls = [proc.stdout.readline().strip() for _ in range(4)]
        assert all(u.startswith("http://127.0.0.1:") for u in urls)
        with Gateway("demo", "demo", hosts=urls[1:], timeout=5) as gw:
            assert isinstance(
                gw.send_json([{"dstno": "60123456789", "msg": "Hi"}], type=1).result, Sent
            )
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "1 messages accepted" in out
