from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from isms_campaigns.campaign import Campaign
from isms_campaigns.cli import build_parser, main
from isms_campaigns.errors import IsmsError
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
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in readme, f"README does not document {name} {option}"


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
    again = capsys.readouterr().out
    assert "Nothing to send" in again and "submitted 298" in again
    assert "dry run" not in again.lower()  # it was not one
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
    phones = pl.DataFrame({"phone": [f"0123{i:06d}" for i in range(60)]})
    with (
        sim.gateway() as gw,
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
    # No report for dec-promo yet: its rate is not known, not 0 %; no "null" anywhere.
    dec = next(line for line in out.splitlines() if "dec-promo" in line)
    assert "–" in dec and "0.0 %" not in dec and "null" not in out
    assert "1.7 % (" in out  # nov-promo: 1 delivered of 60
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


# -- options for real files, and every failure as one line ----------------------


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The error a command ends with: one line, exit status 2, no traceback."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def estimate(path: Path, *extra: str) -> list[str]:
    return ["estimate", str(path), "--template", "Hi %name%", "--fallback", "name=X", *extra]


def test_encoding_option_and_its_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes("name,phone\nJos\xe9,0123456789\n".encode("cp1252"))
    err = fails(capsys, *estimate(path))
    assert "pass --encoding cp1252" in err and "encoding=" not in err
    assert main(estimate(path, "--encoding", "cp1252")) == 0
    assert "Hi José" in capsys.readouterr().out
    assert "--encoding nope is not a text encoding" in fails(
        capsys, *estimate(path, "--encoding", "nope")
    )


def test_sheet_number_column_and_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from .xlsx import write_xlsx

    book = write_xlsx(
        tmp_path / "c.xlsx",
        [
            ["Nama", "Telefon", "Pesanan"],
            ["Siti", "019-123 4567", "A1"],
            ["Ali", 60123456789, "A2"],
        ],
    )
    out = tmp_path / "plan.csv"
    args = [
        "estimate",
        str(book),
        "--sheet",
        "Contacts",
        "--number-column",
        "Telefon",
        "--template",
        "Hi %nama%, order %order%",
        "--token",
        "nama=Nama",
        "--token",
        "%order%=Pesanan",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    plan = pl.read_csv(out, infer_schema=False)
    assert plan["msg"].to_list() == ["Hi Siti, order A1", "Hi Ali, order A2"]
    assert plan["dstno"].to_list() == ["60191234567", "60123456789"]
    args[3] = "0"  # the sheet's position
    assert main(args) == 0
    capsys.readouterr()
    args[3] = "Orders"
    assert "no sheet 'Orders'; its sheets are ['Contacts']" in fails(capsys, *args)
    args[3] = "Contacts"
    err = fails(capsys, *[a if a != "Telefon" else "Phone" for a in args])
    assert err.startswith("error: --number-column Phone is not a column")
    err = fails(capsys, *[a if a != "nama=Nama" else "nama=Name" for a in args])
    assert "--token maps %nama% to column 'Name'" in err


def test_errors_name_command_line_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Nama,Telefon\nSiti,0191234567\n")
    err = fails(capsys, *estimate(path))
    assert "or pass --number-column COLUMN." in err and "number_column" not in err
    err = fails(capsys, *estimate(path, "--sheet", "1"))
    assert "--sheet 1 is only for" in err
    twins = tmp_path / "twins.csv"
    twins.write_text("Name,name,phone\nA,a,0191234567\n")
    err = fails(capsys, "estimate", str(twins), "--template", "Hi %NAME%")
    assert "pass --token NAME=COLUMN." in err and "token_columns" not in err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--token", "name"], "--token 'name': write it as NAME=COLUMN"),
        (["--token", "=Nama"], "--token '=Nama': write it as NAME=COLUMN"),
        (["--token", "name="], "--token 'name=': write it as NAME=COLUMN"),
        (["--token", "a=X", "--token", "a=Y"], "--token a=… is given twice"),
        (["--format", "amount"], "--format 'amount': write it as NAME=SPEC"),
        (["--fallback", "Customer"], "--fallback 'Customer': write it as TOKEN=VALUE"),
    ],
)
def test_bad_pairs_are_one_line_errors(
    extra: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert expected in fails(capsys, *estimate(ROOT / "data" / "sample_contacts.csv", *extra))


@pytest.mark.skipif(
    "formats" not in inspect.signature(Campaign).parameters,
    reason="Campaign(formats=) comes with the rendering branch of issue 13",
)
def test_format_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.parquet"
    pl.DataFrame(
        {"phone": ["0191234567"], "amount": [49.9], "dob": [date(1990, 5, 23)]}
    ).write_parquet(path)
    argv = ["estimate", str(path), "--template", "RM%amount%, born %dob%"]
    assert main([*argv, "--format", "amount={:.2f}", "--format", "dob=%d/%m/%Y"]) == 0
    assert "RM49.90, born 23/05/1990" in capsys.readouterr().out


def test_template_file_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contacts = str(ROOT / "data" / "sample_contacts.csv")
    missing = tmp_path / "missing.txt"
    err = fails(capsys, "estimate", contacts, "--template-file", str(missing))
    assert err == f"error: --template-file {str(missing)!r} does not exist.\n"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Ol\xe1 %name%".encode("latin-1"))
    assert "is not UTF-8 text" in fails(capsys, "estimate", contacts, "--template-file", str(latin))
    err = fails(capsys, "estimate", contacts, "--template", "Hi", "--template-file", str(latin))
    assert "not both" in err
    assert "Cannot read --template-file" in fails(
        capsys, "estimate", contacts, "--template-file", str(tmp_path)
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_out_writes_by_suffix(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sub" / f"plan{suffix}"  # the folder is made
    assert main(estimate(ROOT / "data" / "sample_contacts.csv", "--out", str(out))) == 0
    assert f"Wrote every planned message to {out}" in capsys.readouterr().out
    read = {".csv": pl.read_csv, ".parquet": pl.read_parquet, ".xlsx": pl.read_excel}[suffix]
    plan = read(out)
    assert plan.height == 320 and plan.columns[:3] == ["row", "number", "dstno"]
    assert plan["dstno"].cast(pl.String)[0] == "60103444694"


def test_out_failures_come_before_planning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contacts = ROOT / "data" / "sample_contacts.csv"
    err = fails(capsys, *estimate(contacts, "--out", str(tmp_path / "plan.txt")))
    assert "end the name with .csv, .parquet, .xlsx" in err
    assert "Campaign" not in capsys.readouterr().out and not (tmp_path / "plan.txt").exists()
    folder = tmp_path / "plans.csv"
    folder.mkdir()
    assert "is a folder" in fails(capsys, *estimate(contacts, "--out", str(folder)))
    copy = tmp_path / "contacts.csv"
    copy.write_bytes(contacts.read_bytes())
    assert "is the contact list itself" in fails(capsys, *estimate(copy, "--out", str(copy)))


def unprivileged() -> list[str]:
    """A prefix that runs a command without root's power to write into any folder."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: every folder is writable")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [*unprivileged(), sys.executable, "-m", "isms_campaigns.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def one_line_error(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    return run.stderr


def test_read_only_folders_as_a_user_types_them(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        contacts = str(ROOT / "data" / "sample_contacts.csv")
        run = cli(*estimate(Path(contacts), "--out", str(locked / "plan.csv")))
        err = one_line_error(run)
        assert err.startswith(f"error: Cannot write --out {str(locked / 'plan.csv')!r}: Permission")
        assert "Campaign" not in run.stdout  # refused before planning
        token = "abcdefghijkl-123"
        for spool in (locked, locked / "new"):
            run = cli("receiver", "--port", "0", "--token", token, "--spool", str(spool))
            err = one_line_error(run)
            assert err.startswith(f"error: Cannot spool to {str(spool)!r}: Permission denied.")
            assert "with --spool FOLDER" in err
    finally:
        locked.chmod(0o755)


def test_receiver_spool_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = tmp_path / "spool"
    spool.write_text("")
    err = fails(
        capsys, "receiver", "--port", "0", "--token", "abcdefghijkl-123", "--spool", str(spool)
    )
    assert f"Cannot spool to {str(spool)!r}: it is a file." in err


def test_contact_files_that_cannot_be_planned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lists = tmp_path / "lists.json"
    lists.write_text('[{"name": "Ali", "phone": ["0123456789", "0191234567"]}]')
    assert "Column 'phone' holds List" in fails(capsys, *estimate(lists))
    internal = tmp_path / "internal.csv"
    internal.write_text("name,phone,__dstno\nAli,0123456789,x\n")
    err = fails(capsys, *estimate(internal))
    assert "Column '__dstno' has the name of a column isms_campaigns adds" in err


def test_suppress_and_rate_card_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contacts = tmp_path / "c.csv"
    contacts.write_text("name,phone\nSiti,0191234567\nAli,0123456789\nMei,0132223333\n")
    optout = tmp_path / "optout.txt"
    optout.write_text("0191234567 (Siti)\r\n6.0123456789E10\r\n")
    out = tmp_path / "plan.csv"
    assert main(estimate(contacts, "--suppress", str(optout), "--out", str(out))) == 0
    assert "skipped: suppressed" in capsys.readouterr().out
    plan = pl.read_csv(out, infer_schema=False)
    assert plan["problem"].to_list() == ["suppressed", "suppressed", None]

    optout.write_text("0191234567 (Siti)\nAli\n6.01234568E10\n")
    err = fails(capsys, *estimate(contacts, "--suppress", str(optout)))
    assert "The suppress list 'optout.txt' has 2 entries without a readable phone number" in err
    assert "line 2 'Ali' (no number); line 3 '6.01234568E10'" in err

    card = tmp_path / "rates.csv"
    card.write_text("country_code,credits_per_part\n60,1\n60,2\n")
    err = fails(capsys, *estimate(contacts, "--rate-card", str(card)))
    assert "lists a calling code twice: +60 on line 2 (1) and line 3 (2)" in err


def test_format_pairs_reach_the_campaign(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    given: dict[str, object] = {}

    def planned(*args: object, **kwargs: object) -> None:
        given.update(kwargs)
        raise IsmsError("stop here")

    monkeypatch.setattr("isms_campaigns.cli.Campaign", planned)
    argv = estimate(ROOT / "data" / "sample_contacts.csv", "--token", "name=name")
    assert main([*argv, "--format", "amount={:.2f}", "--format", "%dob%=%d/%m/%Y"]) == 2
    assert given["formats"] == {"amount": "{:.2f}", "dob": "%d/%m/%Y"}
    assert given["token_columns"] == {"name": "name"}
    given.clear()
    assert main(argv) == 2
    assert "formats" not in given  # not given, not passed
    capsys.readouterr()


def test_send_reads_contacts_with_the_same_options(
    tmp_path: Path, served: tuple[Simulator, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, urls = served
    path = tmp_path / "windows.txt"
    path.write_bytes("Nama\tTelefon\r\nJos\xe9\t0191234567\r\n".encode("cp1252"))
    argv = ["send", str(path), "--template", "Ol\xe1 %nama%", "--store", str(tmp_path / "s.duckdb")]
    options = ["--encoding", "cp1252", "--number-column", "Telefon", "--token", "nama=Nama"]
    assert main([*argv, *options, "--hosts", *urls, "--yes"]) == 0
    assert [(m.dstno, m.msg) for m in sim.ledger] == [("60191234567", "Olá José")]
    capsys.readouterr()


def at_malaysian(monkeypatch: pytest.MonkeyPatch, hour: int, minute: int = 0) -> None:
    from isms_campaigns import schedule

    moment = datetime(2026, 5, 4, hour, minute, tzinfo=schedule.MALAYSIA)
    monkeypatch.setattr(schedule, "now", lambda: moment)


def test_send_outside_the_marketing_window_says_when_it_opens_without_asking(
    tmp_path: Path,
    served: tuple[Simulator, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, urls = served
    at_malaysian(monkeypatch, 21, 30)
    monkeypatch.setattr("builtins.input", lambda q: pytest.fail(f"asked {q!r}"))
    assert main(send_args(tmp_path / "s.duckdb", urls)) == 1
    out = capsys.readouterr().out
    assert "the window opens at 08:00 tomorrow (in 10 h 30 min)" in out
    assert "--purpose transactional" in out
    assert sim.ledger == []
    # Order notices go out at any hour.
    assert main(send_args(tmp_path / "s.duckdb", urls, "--yes", "--purpose", "transactional")) == 0
    assert len(sim.ledger) == 298


def test_send_later_and_the_frequency_cap_from_the_command_line(
    tmp_path: Path,
    served: tuple[Simulator, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, urls = served
    at_malaysian(monkeypatch, 23)  # closed now; the window applies to the scheduled time
    store = tmp_path / "s.duckdb"
    later = ["--send-later", "2026-05-05T01:30Z"]  # 09:30 in Malaysia
    assert main(send_args(store, urls, "--yes", *later)) == 0
    assert {e.send_at for e in sim.ledger} == {datetime(2026, 5, 5, 1, 30, tzinfo=UTC)}
    again = ["--campaign", "again", "--template", "Order for %name% ready"]  # not a repeat
    again += ["--purpose", "transactional", "--max-per-number", "1/24h"]
    assert main([*send_args(store, urls, "--yes"), *again]) == 0
    assert "skipped by the frequency cap" in capsys.readouterr().out
    assert len(sim.ledger) == 298


def test_send_later_errors_name_the_option_and_the_malaysian_clock(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    at_malaysian(monkeypatch, 10)
    estimate = ["estimate", str(ROOT / "data" / "sample_contacts.csv"), "--template", "Hi"]
    assert main([*estimate, "--send-later", "2026-05-04 09:00"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --send-later 2026-05-04 09:00 Malaysian time is in the past")
    assert "it is now 2026-05-04 10:00 in Malaysia" in err
    assert main([*estimate, "--send-later", "2026-05-04 21:00"]) == 0
    assert "outside the marketing window" in capsys.readouterr().out  # a note in the estimate
