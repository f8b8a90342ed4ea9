"""The report in a real browser: headless Chromium renders every figure, without JS errors.

Chromium's ``--dump-dom`` prints the page after its scripts ran (under a
virtual time budget, so no sleeping); a script added to a copy of the
report records uncaught errors, rejected promises and ``console.error``
into an attribute of ``<html>``, which the dump carries out. At a given
width (1400 px, and a 414 px phone) the page is opened in an iframe of that
width (headless Chromium's window is at least 500 px wide), where the probe
also measures the layout and posts it to the frame around it. Without
Chromium (Debian: ``apt-get install chromium``) the test is skipped, except
in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from isms_campaigns.report import write_report

from .test_report import build_store

pytestmark = pytest.mark.browser

# Chromium as a sandboxed headless test needs it (tests/test_lab.py too).
BROWSER_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers have a tiny /dev/shm
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLAGS = ["--headless", *BROWSER_FLAGS, "--enable-logging=stderr", "--virtual-time-budget=20000"]

# Records every error into <html data-js-errors="[...]">; data-js-ran proves it ran.
PROBE = """<script>
(function () {
  var errors = [], root = document.documentElement;
  function keep(text) { errors.push(String(text)); root.dataset.jsErrors = JSON.stringify(errors); }
  window.addEventListener('error', function (e) { keep('error: ' + (e.message || e.type)); }, true);
  window.addEventListener('unhandledrejection', function (e) { keep('rejection: ' + e.reason); });
  var original = console.error;
  console.error = function () {
    keep('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
  root.dataset.jsErrors = '[]';
  window.addEventListener('load', function () {
    root.dataset.jsRan = 'yes';
    setTimeout(function () {  // virtual time: the figures have drawn by then
      var figures = Array.prototype.map.call(
        document.querySelectorAll('div.plotly-graph-div'), function (div) {
          var svg = div.querySelector('svg.main-svg');
          return {drawn: !!svg, width: svg ? svg.getBoundingClientRect().width : 0,
                  room: div.parentElement.getBoundingClientRect().width};
        });
      var layout = {width: window.innerWidth, page: document.documentElement.scrollWidth,
                    figures: figures, errors: errors};
      root.dataset.layout = JSON.stringify(layout);
      if (window.parent !== window) window.parent.postMessage(layout, '*');
    }, 2000);
  });
})();
</script>"""

# A page showing another in an iframe of a given width, keeping what its probe posts.
FRAME = """<!DOCTYPE html><html><head><script>
addEventListener('message', function (e) {
  document.documentElement.dataset.layout = JSON.stringify(e.data);
});
</script></head><body style="margin:0">
<iframe src="{src}" style="border:0;width:{width}px;height:3000px"></iframe></body></html>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing in CI: .ci/run installs Debian's chromium package.")
    pytest.skip("Chromium is not installed (Debian: apt-get install chromium); CI runs this.")


# HTML elements without an end tag.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
VOID |= {"track", "wbr"}


class Figures(HTMLParser):
    """Each plotly figure div of a page, and whether its SVG was drawn inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.open: list[tuple[str, int]] = []  # (figure id, depth of its div)
        self.drawn: dict[str, bool] = {}
        self.root: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "html":
            self.root = a
        if tag == "div" and "plotly-graph-div" in classes:
            name = a.get("id") or f"figure {len(self.drawn) + 1}"
            self.drawn[name] = False
            self.open.append((name, self.depth))
        if tag == "svg" and "main-svg" in classes and self.open:
            self.drawn[self.open[-1][0]] = True
        if tag not in VOID:
            self.depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        self.depth -= 1
        if self.open and self.depth == self.open[-1][1]:
            self.open.pop()


def probed(page: Path) -> Path:
    """A copy of ``page`` with the probe first in its head."""
    copy = page.with_name(f"probed-{page.name}")
    text = page.read_text(encoding="utf-8")
    copy.write_text(text.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    return copy


def dump(url: str, profile: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [chromium(), *FLAGS, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=300,  # a safety net for a hung browser, not a measurement
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def layout_at(page: Path, width: int, profile: Path) -> dict[str, Any]:
    """Open ``page`` at ``width`` px: what its probe measured (figures, page width, errors)."""
    frame = page.with_name(f"at-{width}-{page.name}")
    frame.write_text(FRAME.replace("{src}", probed(page).name).replace("{width}", str(width)))
    done = dump(frame.as_uri(), profile, f"--window-size={max(width, 500) + 20},3000")
    root = Figures()
    root.feed(done.stdout)
    found = root.root.get("data-layout")
    assert found, "the page in the frame posted no layout: its scripts did not finish"
    return json.loads(found)  # type: ignore[no-any-return]


def render(page: Path, profile: Path) -> tuple[Figures, list[str], str]:
    """Open ``page`` in headless Chromium: (its figures, JS errors, Chromium's console log)."""
    done = dump(probed(page).as_uri(), profile)
    figures = Figures()
    figures.feed(done.stdout)
    assert figures.root.get("data-js-ran") == "yes", "the page's scripts did not run"
    errors = json.loads(figures.root.get("data-js-errors") or "null")
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return figures, errors, "\n".join(console)


def test_every_figure_of_the_report_renders_without_errors(tmp_path: Path) -> None:
    chromium()
    built = build_store(tmp_path)
    page = write_report(built.store, tmp_path / "report.html")
    figures, errors, console = render(page, tmp_path / "profile")
    assert len(figures.drawn) == page.read_text().count('class="plotly-graph-div') == 7
    assert all(figures.drawn.values()), [k for k, v in figures.drawn.items() if not v]
    assert errors == [], errors
    assert "Uncaught" not in console, console


@pytest.mark.parametrize("width", [1400, 414])
def test_the_report_fits_the_screen_at(width: int, tmp_path: Path) -> None:
    """Every figure drawn within its box and the page no wider than the screen (wide
    tables scroll inside theirs), without a JS error: at a desk and on a phone."""
    chromium()
    page = write_report(build_store(tmp_path).store, tmp_path / "report.html")
    layout = layout_at(page, width, tmp_path / "profile")
    assert layout["width"] == width
    assert layout["page"] <= width, f"the page is {layout['page']} px wide on a {width} px screen"
    figures = layout["figures"]
    assert len(figures) == 7 and all(f["drawn"] for f in figures), figures
    assert all(0 < f["width"] <= f["room"] + 1 for f in figures), figures
    assert layout["errors"] == []


def test_the_check_catches_a_broken_page(tmp_path: Path) -> None:
    """The probe and the parser see a figure that never drew and a script that threw."""
    chromium()
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>x</title></head><body>"
        '<div id="a" class="plotly-graph-div"><svg class="main-svg"></svg></div>'
        '<div id="b" class="plotly-graph-div"><p>no plotly here<br></p></div>'
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    figures, errors, console = render(page, tmp_path / "profile")
    assert figures.drawn == {"a": True, "b": False}
    assert any("boom" in e for e in errors)
    assert any("undefinedFunction" in e for e in errors)
    assert "Uncaught" in console


def test_the_layout_check_catches_a_page_too_wide(tmp_path: Path) -> None:
    chromium()
    page = tmp_path / "wide.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>x</title></head><body>"
        '<div style="width:900px"><div class="plotly-graph-div"><svg class="main-svg" '
        'width="900" height="10"></svg></div></div></body></html>'
    )
    layout = layout_at(page, 414, tmp_path / "profile")
    assert layout["width"] == 414 and layout["page"] > 414
    assert layout["figures"] == [{"drawn": True, "width": 900, "room": 900}]
