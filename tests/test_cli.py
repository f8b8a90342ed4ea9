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
