"""The notebooks in a real JupyterLab, in headless Chromium: the widgets render and respond.

One JupyterLab for the module, on a loopback port with a token, serving a
temporary copy of notebooks/ and data/; Playwright drives Debian's chromium
(``playwright install``, which downloads a browser, is never needed). Each
test opens a notebook, runs it and uses its widgets as a person would, then
:func:`problems` reads the page: a cell that raised, a widget that shows
nothing or an error, a JavaScript error. Without chromium, JupyterLab or
Playwright the tests are skipped, except in CI (``CI`` set), where they
fail. ``-m "not browser"`` deselects them (and tests/test_browser.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from .conftest import ROOT
from .test_browser import BROWSER_FLAGS, chromium

pytestmark = pytest.mark.browser

WAIT = 120_000  # ms: a safety net for a hung page, not a measurement
APP = "window.jupyterapp"
NOTEBOOK = f"{APP}.shell.currentWidget"
WIDGET = "application/vnd.jupyter.widget-view+json"


def missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: .ci/run and `make test` install it.")
    pytest.skip(f"{what} is not installed; CI runs this.")


@dataclass
class Lab:
    url: str
    token: str
    root: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on a copy of the notebooks, as `make notebook` starts it."""
    for module in ("jupyterlab", "playwright"):
        if importlib.util.find_spec(module) is None:
            missing(f"{module} (pip install -e '.[dev]')")
    chromium()
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    shutil.copytree(ROOT / "data", home / "data")
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # no "get Jupyter news?" toast over the widgets
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = os.urandom(16).hex()
    env = {k: v for k, v in os.environ.items() if k != "ISMS_REAL"}
    env |= {
        "TMPDIR": str(home),  # the notebooks' temporary folders
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={home / 'notebooks'}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells, read state
            "--LabApp.news_url=None",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a safety net, not a measurement
        while True:
            assert server.poll() is None, (home / "lab.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not start"
            try:
                if httpx.get(f"{url}/api/status", params={"token": token}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)  # polling a server starting up, not a timing
        yield Lab(url, token, home / "notebooks")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=BROWSER_FLAGS)
        yield launched
        launched.close()


@dataclass
class Page:
    """A browser tab on JupyterLab, and every JavaScript error it saw."""

    page: Any
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    seen = Page(page)
    page.on("pageerror", lambda e: seen.errors.append(f"uncaught: {e}"))
    page.on(
        "console",
        lambda m: seen.errors.append(f"console.error: {m.text}") if m.type == "error" else None,
    )
    yield seen
    context.close()


# -- driving JupyterLab ----------------------------------------------------------


def open_notebook(tab: Page, lab: Lab, name: str) -> None:
    tab.page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}")
    tab.page.wait_for_function(
        f"{APP}?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"
        f" && {NOTEBOOK}.context.path === {json.dumps(name)}"
    )


def run(tab: Page, *, through: str | None = None) -> None:
    """Run the notebook (or its cells up to the one whose code has ``through``); wait."""
    if through is None:
        tab.page.evaluate(f"{APP}.commands.execute('notebook:run-all-cells')")
    else:
        tab.page.evaluate(
            f"""(text) => {{
                const app = {APP}, nb = app.shell.currentWidget.content;
                nb.activeCellIndex = nb.widgets.findIndex(
                    c => c.model.sharedModel.getSource().includes(text));
                return app.commands.execute('notebook:run-all-above')
                    .then(() => app.commands.execute('notebook:run-cell'));
            }}""",
            through,
        )
    # Every cell asked for has run when none is queued or running and the kernel is idle.
    tab.page.wait_for_function(
        f"""() => {{
            const nb = {NOTEBOOK};
            const prompts = [...nb.node.querySelectorAll('.jp-InputArea-prompt')];
            return nb.sessionContext.session.kernel.status === 'idle'
                && prompts.some(p => /\\[\\d+\\]/.test(p.textContent))
                && !prompts.some(p => p.textContent.includes('*'));
        }}"""
    )


def problems(tab: Page) -> list[str]:
    """What went wrong on the page: cells that raised, widgets that show nothing
    or an error, JavaScript errors."""
    found: list[str] = tab.page.evaluate(f"""() => {{
        const found = [];
        for (const cell of {NOTEBOOK}.content.widgets) {{
            if (cell.model.type !== 'code') continue;
            const area = cell.outputArea;
            const where = cell.model.sharedModel.getSource().trim().split('\\n').pop();
            for (let i = 0; i < area.model.length; i++) {{
                const out = area.model.get(i);
                const node = area.widgets[i].node.querySelector('.jp-OutputArea-output');
                if (out.type === 'error') {{
                    const raised = out.toJSON();
                    found.push(`${{where}}: raised ${{raised.ename}}: ${{raised.evalue}}`);
                }}
                if (!('{WIDGET}' in out.data)) continue;
                const text = node.textContent.trim();  // innerText: '' off screen
                const drawn = node.querySelector('input, textarea, button, svg, canvas');
                if (!text && !drawn) found.push(`a widget shows nothing: ${{where}}`);
                if (/Error displaying widget|Failed to (load|render)/.test(text))
                    found.push(`a widget shows an error: ${{where}}: ${{text.slice(0, 300)}}`);
            }}
        }}
        return found;
    }}""")
    return found + tab.errors


def text(tab: Page, selector: str) -> str:
    return str(tab.page.locator(selector).inner_text())


# -- the notebooks -----------------------------------------------------------------


def test_the_composer_renders_and_follows_typing_and_token_clicks(tab: Page, lab: Lab) -> None:
    open_notebook(tab, lab, "01_plan_and_estimate.ipynb")
    run(tab)
    page = tab.page
    area = page.locator(".isms-composer textarea.isms-template")
    first = "KedaiKita: Hi %name%, your order %order_id% is ready at %outlet%."
    assert area.input_value() == first
    preview, credits = ".isms-composer-preview", ".isms-composer-stats"
    page.wait_for_selector(f"{preview} td")
    before = text(tab, credits)
    assert "RM0.00 KedaiKita: Hi " in text(tab, preview)  # the prefix, then the template

    # Typing at the end: the preview and the credits follow (one part becomes two).
    area.click()
    area.press("End")
    more = " Jumpa lagi! Kedai buka 10 pagi hingga 10 malam setiap hari, termasuk cuti umum."
    page.keyboard.type(more)
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel).innerText.includes(text)",
        arg=[preview, "termasuk cuti umum."],
    )
    page.wait_for_function(
        "([sel, old]) => document.querySelector(sel).innerText !== old", arg=[credits, before]
    )
    assert _number(text(tab, credits), "credits") > _number(before, "credits")

    # A token goes in at the cursor, and the cursor lands after it.
    area.press("Control+Home")
    for _ in range(len("KedaiKita:")):
        area.press("ArrowRight")
    page.locator(".isms-composer button", has_text="%desc%").click()
    expected = "KedaiKita: %desc% Hi %name%, your order"
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel).value.startsWith(text)",
        arg=[".isms-composer textarea", expected],
    )
    assert area.evaluate("a => a.selectionStart") == len("KedaiKita: %desc%")
    assert area.input_value() == "KedaiKita: %desc%" + first[len("KedaiKita:") :] + more
    page.wait_for_function(
        "([sel, text]) => !document.querySelector(sel).innerText.includes(text)",
        arg=[preview, "KedaiKita: Hi"],
    )  # every preview row now has the description before "Hi"
    assert problems(tab) == []


def test_the_send_panel_sends_to_the_simulator_with_progress_and_report(
    tab: Page, lab: Lab
) -> None:
    open_notebook(tab, lab, "02_send_campaign.ipynb")
    run(tab, through="ic.widgets.SendPanel(vip, gw, store)")
    page = tab.page
    send = page.locator(".isms-send-panel-send")
    assert send.inner_text().strip() == "Send" and send.is_disabled()
    estimate = text(tab, ".isms-send-panel-estimate")
    to_send = _number(estimate, "messages to send")
    assert to_send > 0 and "enough" in estimate
    page.locator(".isms-send-panel-confirm input").check()
    page.wait_for_function(
        "sel => !document.querySelector(sel).disabled", arg=".isms-send-panel-send"
    )
    send.click()
    result = ".isms-send-panel-result"
    page.wait_for_function(
        "sel => document.querySelector(sel).innerText.includes('Send report: vip-preview')",
        arg=result,
    )
    assert "complete" in text(tab, result)
    assert text(tab, ".isms-send-panel-progress-label") == f"{to_send:,} / {to_send:,} messages"
    bar = page.locator(".isms-send-panel-progress .progress-bar")
    assert bar.evaluate("b => b.style.width") == "100%"
    # Finished: no offer to resume nothing.
    page.wait_for_function(
        "sel => document.querySelector(sel).innerText.includes('Nothing left to send')",
        arg=".isms-send-panel-estimate",
    )
    assert send.inner_text().strip() == "Send" and send.is_disabled()
    page.locator(".isms-send-panel-confirm").wait_for(state="hidden")
    assert "Resume" not in text(tab, ".isms-send-panel")
    assert problems(tab) == []


def test_the_dashboard_draws_its_figures_and_an_export_draws_them_offline(
    tab: Page, lab: Lab
) -> None:
    open_notebook(tab, lab, "03_delivery_dashboard.ipynb")
    run(tab)
    page = tab.page
    figures = ".isms-dashboard-figures .js-plotly-plot"
    page.wait_for_function(
        "sel => document.querySelectorAll(sel + ' svg.main-svg').length >= 6", arg=figures
    )
    assert page.locator(figures).count() == 6
    assert "raya-sale" in text(tab, ".isms-dashboard-summary")
    assert problems(tab) == []

    # Saved and exported to HTML, the notebook's seven figures draw with the network cut.
    page.evaluate(f"{APP}.commands.execute('docmanager:save')")
    page.wait_for_function(f"!{NOTEBOOK}.context.model.dirty")
    from nbconvert import HTMLExporter

    saved = nbformat.read(lab.root / "03_delivery_dashboard.ipynb", as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(saved)
    exported = lab.root.parent / "exported.html"
    exported.write_text(body, encoding="utf-8")
    offline = page.context.new_page()
    offline.route(re.compile(r"^https?://"), lambda route: route.abort())
    uncaught: list[str] = []
    offline.on("pageerror", lambda e: uncaught.append(str(e)))
    offline.goto(exported.as_uri())
    offline.wait_for_function(
        "() => document.querySelectorAll('.plotly-graph-div svg.main-svg').length >= 7"
    )
    assert offline.locator(".plotly-graph-div").count() == 7
    assert not [e for e in uncaught if "Plotly" in e], uncaught
    offline.close()


def test_the_check_reports_a_broken_widget(tab: Page, lab: Lab) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import anywidget\n\n"
            "class Broken(anywidget.AnyWidget):\n"
            "    _esm = 'export default { render() { throw new Error(\"broken on purpose\") } }'"
            "\n\n"
            "Broken()"
        )
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, lab.root / "broken.ipynb")
    open_notebook(tab, lab, "broken.ipynb")
    run(tab)
    tab.page.wait_for_function("() => document.querySelector('.jp-OutputArea-output') !== null")
    found = problems(tab)
    assert "a widget shows nothing: Broken()" in found, found
    assert "uncaught: broken on purpose" in found, found


def _number(shown: str, label: str) -> int:
    """The big figure above ``label`` in a row of cards (``1,234\\ncredits``)."""
    found = re.search(rf"^([\d,]+)\b[^\n]*\n\s*{re.escape(label)}$", shown, re.MULTILINE)
    assert found, f"no {label!r} in {shown!r}"
    return int(found[1].replace(",", ""))
