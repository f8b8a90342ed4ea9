from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from isms_campaigns.cli import build_parser, main
from isms_campaigns.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent


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


def send_args(store: Path, urls: list[str], *extra: str) -> list[str]:
    return [
        "send",
        str(ROOT / "data" / "sample_contacts.csv"),
        "--template",
        "Hi %name%",
        "--fallback",
        "name=Customer",
        "--campaign",
        "cli",
        "--store",
        str(store),
        "--hosts",
        *urls,
        *extra,
    ]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, list[str]]]:
    monkeypatch.setenv("ISMS_USERNAME", "demo")
    monkeypatch.setenv("ISMS_PASSWORD", "demo")
    sim = Simulator()
    with sim.serve() as urls:
        yield sim, urls


def test_send_asks_first_and_sends_nothing_on_no(
    tmp_path: Path,
    served: tuple[Simulator, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, urls = served
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or "n")
    assert main(send_args(tmp_path / "s.duckdb", urls)) == 1
    assert asked == [
        "Send 298 messages (298 credits estimated) of campaign 'cli' through iSMS as 'demo'? [y/N] "
    ]
    assert sim.ledger == []
    assert "Not sent" in capsys.readouterr().out


def test_send_with_yes_sends_once_and_resumes_to_nothing(
    tmp_path: Path, served: tuple[Simulator, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, urls = served
    store = tmp_path / "s.duckdb"
    assert main(send_args(store, urls, "--yes", "--concurrency", "2")) == 0
    out = capsys.readouterr().out
    assert "complete" in out and f"recorded in {store}" in out
    assert len(sim.ledger) == 298
    assert main(send_args(store, urls, "--yes")) == 0
    assert "Nothing to send" in capsys.readouterr().out
    assert len(sim.ledger) == 298


def test_send_dry_run_prints_masked_payloads(
    tmp_path: Path, served: tuple[Simulator, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, urls = served
    assert main(send_args(tmp_path / "s.duckdb", urls, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert '"pwd": "***"' in out and "7 requests" in out and '"demo"' in out
    assert sim.ledger == [] and sim.requests == []


def test_send_without_credentials_says_which_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ISMS_USERNAME", raising=False)
    monkeypatch.delenv("ISMS_PASSWORD", raising=False)
    assert main(send_args(tmp_path / "s.duckdb", ["http://127.0.0.1:9"], "--yes")) == 2
    assert "ISMS_USERNAME" in capsys.readouterr().err


def test_import_dlr_reads_a_log_into_the_store(
    tmp_path: Path, served: tuple[Simulator, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, urls = served
    store = tmp_path / "s.duckdb"
    assert main(send_args(store, urls, "--yes")) == 0
    first = sim.ledger[0]
    log = tmp_path / "access.log"
    log.write_text(f"GET /dlr?msisdn={first.dstno}&trx_id={first.sms_id}&dn_status=DELIVERED\n")
    capsys.readouterr()
    assert main(["import-dlr", str(log), "--store", str(store)]) == 0
    assert "1 events read" in capsys.readouterr().out
    import isms_campaigns as ic

    with ic.Store(store) as s:
        assert (
            s.sql("select count(*) as n from messages where dlr_status = 'DELIVERED'")["n"].item()
            == 1
        )


def sent_store(path: Path, *names: str) -> Path:
    """A store file with a small campaign per name, sent to the in-process simulator."""
    import polars as pl

    import isms_campaigns as ic

    sim = Simulator()
    t = sim.transport()
    phones = pl.DataFrame({"phone": [f"0123{i:06d}" for i in range(60)]})
    with (
        ic.Gateway("demo", "demo", hosts=sim.hosts, transport=t, async_transport=t) as gw,
        ic.Store(path) as store,
    ):
        for name in names:
            ic.Campaign(name, phones, template=f"Hi from {name}").send(gw, store, progress=False)
        first = sim.ledger[0]
        store.import_dlr(
            pl.DataFrame(
                {"msisdn": [first.dstno], "trx_id": [first.sms_id], "dn_status": ["DELIVERED"]}
            )
        )
    return path


def test_report_writes_the_html_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sent_store(tmp_path / "s.duckdb", "nov-promo", "dec-promo")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--store", "s.duckdb"]) == 0  # default --out report.html
    out = capsys.readouterr().out
    written = tmp_path / "report.html"
    assert f"Wrote {written}" in out
    assert "nov-promo" in out and "dec-promo" in out  # the summary by campaign
    page = written.read_text(encoding="utf-8")
    assert "nov-promo" in page and "dec-promo" in page
    assert '<td class="num">60</td>' in page  # submitted per campaign
    assert page.count("plotly.js v") >= 1  # the figures, plotly embedded

    one = tmp_path / "sub" / "one.html"
    args = ["report", "--store", str(store), "--out", str(one), "--campaign", "dec-promo"]
    assert main([*args, "--title", "December"]) == 0
    assert f"Wrote {one}" in capsys.readouterr().out
    page = one.read_text(encoding="utf-8")
    assert "<h1>December</h1>" in page and "dec-promo" in page and "nov-promo" not in page


def test_report_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.duckdb"
    html = tmp_path / "report.html"
    assert main(["report", "--store", str(missing), "--out", str(html)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: No store at {missing}") and err.count("\n") == 1
    assert not missing.exists() and not html.exists()  # no empty store created

    store = sent_store(tmp_path / "s.duckdb", "nov-promo")
    args = ["report", "--store", str(store), "--out", str(html)]
    assert main([*args, "--campaign", "nov-promo", "nov-promos"]) == 2
    err = capsys.readouterr().err
    assert err == "error: No campaign 'nov-promos' in the store; it has: 'nov-promo'.\n"
    assert not html.exists()


def test_cancel_then_send_sends_nothing_more(
    tmp_path: Path, served: tuple[Simulator, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, urls = served
    store = tmp_path / "s.duckdb"
    sim.accounts["demo"].balance = 100
    assert main(send_args(store, urls, "--yes", "--no-balance-check", "--concurrency", "1")) == 1
    assert len(sim.ledger) == 100
    assert main(["cancel", "cli", "--store", str(store)]) == 0
    assert "Cancelled 5 requests (198 messages)" in capsys.readouterr().out
    sim.accounts["demo"].balance = 1_000
    assert main(send_args(store, urls, "--yes")) == 0
    assert "Nothing to send" in capsys.readouterr().out and len(sim.ledger) == 100
    assert main(["cancel", "nope", "--store", str(store)]) == 2
    assert "No campaign 'nope'" in capsys.readouterr().err


def test_resolve_shows_the_evidence_then_settles(
    tmp_path: Path, served: tuple[Simulator, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, urls = served
    store = tmp_path / "s.duckdb"
    sim.set_fault(urls[0], "drop-after")  # acted, answers lost: three unknowns stop it
    main(send_args(store, urls, "--yes", "--concurrency", "1"))
    sim.set_fault(urls[0], "ok")
    capsys.readouterr()
    log = tmp_path / "dlr.log"
    first = sim.ledger[0]
    log.write_text(f"GET /dlr?msisdn={first.dstno}&trx_id={first.sms_id}&dn_status=DELIVERED\n")
    assert main(["import-dlr", str(log), "--store", str(store)]) == 0
    assert main(["resolve", "cli", "--store", str(store), "--settle", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "Delivery reports prove 1 of them went out" in out and "sent (DLR evidence)" in out
    assert main(["resolve", "cli", "--store", str(store), "--resend"]) == 0
    assert "no request in doubt" in capsys.readouterr().out
