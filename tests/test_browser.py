"""The reports and the email rendered in a real headless browser at phone width (Chromium, DevTools protocol).

Each page is loaded in a 390 x 844 mobile viewport (an iPhone 12-14) and checked the way a
reader would notice problems: the page must not scroll sideways, text must be readable,
charts must load and fit, no code or prompt may show, and a screenshot must not be blank.
Skipped, with the reason, when Chromium is not installed (``.ci/run`` installs it).
"""
from __future__ import annotations

import asyncio
import base64
import email
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from email import policy
from pathlib import Path

import pytest

from test_email_pack import PACK_NOTEBOOKS, make_run

CHROMIUM = next((p for p in (os.environ.get("SOE_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome"), "/usr/bin/chromium") if p and Path(p).is_file()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); "
                                                         ".ci/run installs it")
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
CODE_MARKERS = ["from soe_helpers", "import pandas", "%matplotlib", "open_week(", "wk.record", "In [", "Out[",
                "Traceback", "run_dir = ", "show_table("]

MEASURE = """(() => {
  const de = document.documentElement, b = document.body;
  const imgs = [...document.images].map(i => ({src: i.getAttribute('src').slice(0, 40),
      ok: i.complete && i.naturalWidth > 0, right: i.getBoundingClientRect().right,
      width: i.getBoundingClientRect().width, natural: i.naturalWidth}));
  const wide = [...b.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > innerWidth + 1
      && !e.closest('.output_subarea')).slice(0, 5).map(e => e.tagName + '.' + e.className);
  const small = [...b.querySelectorAll('p, li, td')].filter(e => e.innerText.trim()
      && parseFloat(getComputedStyle(e).fontSize) < 11).length;
  return {scrollWidth: de.scrollWidth, innerWidth: innerWidth, text: b.innerText, imgs: imgs, wide: wide,
          small: small, fontSize: parseFloat(getComputedStyle(b).fontSize)};
})()"""


#: Words as a reader counts them (tokens with a letter or digit, as tests/test_decisions.py ``words``): on the first
#: screen (a word whose box lies in the viewport) and on the whole page (every word the page shows: none hidden).
WORDS = r"""(() => {
  let first = 0, all = 0; const firstWords = [], allWords = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const re = /\S+/g; let m;
    while ((m = re.exec(n.data))) {
      if (!/[\p{L}\p{N}_]/u.test(m[0])) continue;
      const r = document.createRange(); r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
      const b = r.getClientRects()[0];
      if (!b || b.width === 0 || b.height === 0) continue;
      all++; allWords.push(m[0]);
      if (b.top < innerHeight && b.bottom > 0 && b.left < innerWidth && b.right > 0) { first++; firstWords.push(m[0]); }
    }
  }
  return {first: first, all: all, firstText: firstWords.join(' '), text: allWords.join(' ')};
})()"""


class Browser:
    """A headless Chromium driven over the DevTools protocol (websocket from tornado, a Jupyter dependency)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="soe-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.time() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.skip("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws_url = f"ws://127.0.0.1:{port}{path}"
        self.loop = asyncio.new_event_loop()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
        if hasattr(self, "loop"):
            self.loop.close()

    def render(self, path: Path, viewport: dict = PHONE, expression: str = MEASURE) -> tuple[dict, bytes]:
        """(measurements, PNG screenshot of the first screen) of the local file ``path``; ``expression``: the
        JavaScript measuring it (:data:`MEASURE`, :data:`WORDS`)."""
        return self.loop.run_until_complete(asyncio.wait_for(
            self._render(path.resolve().as_uri(), viewport, expression), 60))

    def words(self, path: Path, viewport: dict = PHONE) -> dict:
        """Words on the first screen (``first``, ``firstText``) and on the whole page (``all``, ``text``) of ``path``."""
        return self.render(path, viewport, WORDS)[0]

    async def _render(self, url: str, viewport: dict, expression: str = MEASURE):
        from tornado.websocket import websocket_connect

        conn = await websocket_connect(self.ws_url, max_message_size=64 * 1024 * 1024)
        counter = iter(range(1, 10**6))
        events: list[dict] = []

        async def call(method, params=None, session=None):
            i = next(counter)
            msg = {"id": i, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            await conn.write_message(json.dumps(msg))
            while True:
                reply = json.loads(await conn.read_message())
                if reply.get("id") == i:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
                events.append(reply)

        try:
            target = (await call("Target.createTarget", {"url": "about:blank"}))["targetId"]
            s = (await call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
            await call("Emulation.setDeviceMetricsOverride", viewport, s)
            await call("Page.enable", session=s)
            await call("Page.navigate", {"url": url}, s)
            while not any(e.get("method") == "Page.loadEventFired" for e in events):
                events.append(json.loads(await conn.read_message()))
            result = (await call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, s))["result"]
            shot = await call("Page.captureScreenshot", {"format": "png"}, s)
            await call("Target.closeTarget", {"targetId": target})
            return result["value"], base64.b64decode(shot["data"])
        finally:
            conn.close()


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def email_as_page(eml: Path, folder: Path) -> Path:
    """The email's HTML part with its cid: images saved beside it, as a mail client shows it."""
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    doc = msg.get_body(("html",)).get_content()
    for part in msg.walk():
        cid = part.get("Content-ID")
        if cid:
            name = part.get_filename()
            (folder / name).write_bytes(part.get_content())
            doc = doc.replace(f"cid:{cid.strip('<>')}", name)
    page = folder / "email.html"
    page.write_text(doc, encoding="utf-8")
    return page


def check_phone_page(m: dict, png: bytes) -> None:
    from matplotlib import image

    assert m["innerWidth"] == 390
    assert m["scrollWidth"] <= m["innerWidth"], f"page scrolls sideways at 390 px: {m['scrollWidth']} ({m['wide']})"
    assert not m["wide"], m["wide"]
    assert m["fontSize"] >= 14 and m["small"] == 0
    assert all(i["ok"] and i["right"] <= 391 for i in m["imgs"]), m["imgs"]  # charts load and fit
    for marker in CODE_MARKERS:
        assert marker not in m["text"], marker
    px = image.imread(io.BytesIO(png))
    assert px.shape[:2] == (844, 390) and px[..., :3].std() > 0.05  # a real page, not a blank screen


def test_email_renders_on_a_phone(browser, tmp_path):
    from soe_helpers.deliver.mail import build_run_email
    from soe_helpers.core.params import load_params

    run_dir, manifest = make_run(tmp_path / "out")
    rec = build_run_email(run_dir, manifest, load_params(), expected=PACK_NOTEBOOKS, previous={})
    m, png = browser.render(email_as_page(run_dir / rec["file"], tmp_path))
    check_phone_page(m, png)
    assert "Q4 lands $9.5M vs $10.0M plan; cash low $1.23M in 2027-W05." in m["text"]
    assert "<script>alert(1)</script> is $90K" in m["text"]  # shown as text, never run
    assert len(m["imgs"]) == 2
    (tmp_path / "email_390.png").write_bytes(png)


@pytest.mark.e2e
def test_pack_reports_and_email_render_on_a_phone(browser, pack_run, tmp_path):
    run_dir = pack_run["run_dir"]
    pages = {p.stem: p for p in sorted(run_dir.glob("*.html"))}
    assert {"executive_summary", "demand_reconciliation"} <= set(pages)
    pages["email"] = email_as_page(run_dir / pack_run["manifest"]["email"]["file"], tmp_path)
    for name, page in pages.items():
        m, png = browser.render(page)
        check_phone_page(m, png)
        assert pack_run["manifest"]["week"] in m["text"], name
        if name != "email":  # the shared report header
            assert "Kestrel Components Inc." in m["text"] and "Run:" in m["text"] and "Data as of:" in m["text"]
        if name in ("executive_summary", "email"):
            assert m["imgs"] and "This week" in m["text"]
        if name != "email" and not name.startswith("weekly_pack"):  # every report chart reads at 11 px as shown
            # (the bundle re-encodes the charts smaller for the email's size: checked at both widths below)
            shown = report_chart_text_as_shown(m, page.read_text(encoding="utf-8"))
            assert not shown or min(px for px, _w, _n in shown) >= 11, (name, shown)


# ---------------------------------------------------------------- the email's charts and the weekly pack bundle


def check_page(m: dict, png: bytes, viewport: dict) -> None:
    """No sideways scroll at this width (wide tables scroll in their own box), images load and fit, no code."""
    from matplotlib import image

    assert m["innerWidth"] == viewport["width"]
    assert m["scrollWidth"] <= m["innerWidth"], f"page scrolls sideways at {viewport['width']} px: {m['scrollWidth']}"
    assert not m["wide"], m["wide"]
    assert m["small"] == 0
    assert all(i["ok"] and i["right"] <= viewport["width"] + 1 for i in m["imgs"]), m["imgs"]
    for marker in CODE_MARKERS:
        assert marker not in m["text"], marker
    px = image.imread(io.BytesIO(png))
    assert px.shape[:2] == (viewport["height"], viewport["width"]) and px[..., :3].std() > 0.05


def chart_text_as_shown(m: dict, folder: Path) -> dict[str, float]:
    """Chart file -> CSS px of its smallest text as the browser shows it: the PNG's own smallest text
    (recorded by soe_helpers.report.chart_text.chart_png) times rendered width / natural width."""
    from soe_helpers.report.chart_text import png_min_text_px, shown_text_px

    out = {}
    for i in m["imgs"]:
        png = (folder / i["src"]).read_bytes()
        own = png_min_text_px(png)  # = smallest fontsize_pt * dpi / 72
        assert own is not None, i["src"]
        assert i["natural"] > 0 and i["width"] > 0, i
        out[i["src"]] = shown_text_px(own * 72, dpi=1, png_width=i["natural"], shown_width=i["width"])
    return out


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_email_charts_text_reads_at_11px_as_rendered(browser, tmp_path, viewport):
    from soe_helpers.core.params import load_params
    from soe_helpers.deliver.mail import build_run_email
    from soe_helpers.report.chart_text import PHONE_SHOWN_PX

    run_dir, manifest = make_run(tmp_path / "out")
    rec = build_run_email(run_dir, manifest, load_params(), expected=PACK_NOTEBOOKS, previous={})
    m, png = browser.render(email_as_page(run_dir / rec["file"], tmp_path), viewport)
    check_page(m, png, viewport)
    assert len(m["imgs"]) == 2
    shown = chart_text_as_shown(m, tmp_path)
    widths = {i["src"]: i["width"] for i in m["imgs"]}
    if viewport is PHONE:
        assert all(w == pytest.approx(PHONE_SHOWN_PX, abs=2) for w in widths.values()), widths  # 390 less padding
    else:
        assert all(w == pytest.approx(600, abs=1) for w in widths.values()), widths  # the email's max width
    assert min(shown.values()) >= 11, (shown, widths)


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_pack_email_and_bundle_at_phone_and_desktop_width(browser, pack_run, tmp_path, viewport):
    run_dir, week = pack_run["run_dir"], pack_run["manifest"]["week"]
    m, png = browser.render(email_as_page(run_dir / pack_run["manifest"]["email"]["file"], tmp_path), viewport)
    check_page(m, png, viewport)
    shown = chart_text_as_shown(m, tmp_path)
    assert len(shown) == 2 and min(shown.values()) >= 11, shown
    bundle = run_dir / f"weekly_pack_{week}.html"
    m, png = browser.render(bundle, viewport)
    check_page(m, png, viewport)
    assert "Contents" in m["text"] and "Kestrel Components Inc." in m["text"] and week in m["text"]
    for title in ("Executive summary", "Demand reconciliation", "Cash impact", "Forecast feedback", "Execution KPIs",
                  "Action tracker", "Data accuracy"):
        assert title in m["text"], title
    assert len(m["imgs"]) >= 7


# ---------------------------------------------------------------- the reports' own charts at phone and desktop width


def report_chart_text_as_shown(m: dict, page_html: str) -> list[tuple[float, float, float]]:
    """(CSS px of the smallest text as shown, rendered width, natural width) of every chart of a report page, in
    document order: the PNG's own smallest text (recorded by soe_helpers.report.charts.report_png, embedded as a
    data URI) times rendered width / natural width."""
    import re

    from soe_helpers.report.chart_text import png_min_text_px

    pngs = [base64.b64decode(b) for b in re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', page_html)]
    assert len(pngs) == len(m["imgs"]), (len(pngs), len(m["imgs"]))
    out = []
    for png, i in zip(pngs, m["imgs"]):
        own = png_min_text_px(png)
        assert own is not None, "a report chart without its text record: not drawn by charts.report_png"
        out.append((own * i["width"] / i["natural"], i["width"], i["natural"]))
    return out


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_report_charts_fill_a_phone_and_read_at_11px(browser, tmp_path, viewport):
    """Every chart of soe_helpers.report.charts in a report page made as the run makes it (executed notebook ->
    notebook_to_html): at 390 px it fills the page's width with no text under 11 px as shown and no sideways
    scroll; at 1280 px it shows at its own size."""
    import nbformat

    from soe_helpers.report import charts
    from soe_helpers.run.html import notebook_to_html
    from test_charts import _small_charts

    cells = []
    for name, fig in _small_charts().items():
        cells.append(nbformat.v4.new_markdown_cell(f"## {name}"))
        cell = nbformat.v4.new_code_cell("chart")
        cell.outputs = [nbformat.v4.new_output("display_data", data={
            "image/png": base64.b64encode(charts.report_png(fig)).decode(), "text/plain": "<Figure>"})]
        cells.append(cell)
    ipynb = tmp_path / "execution_kpis.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(ipynb))
    page = tmp_path / "execution_kpis.html"
    page.write_text(notebook_to_html(ipynb, {"title": "Execution KPIs", "company": "Co", "week": "2026-W47"}),
                    encoding="utf-8")
    m, png = browser.render(page, viewport)
    check_page(m, png, viewport)
    shown = report_chart_text_as_shown(m, page.read_text(encoding="utf-8"))
    assert len(shown) == 10
    if viewport is PHONE:  # the page's width less its padding, every chart scaled down to it
        assert all(w == pytest.approx(m["imgs"][0]["width"], abs=1) and 340 <= w <= 372 and n > w for _px, w, n in shown), shown
    else:  # never wider than drawn
        assert all(w == n for _px, w, n in shown), shown
    assert min(px for px, _w, _n in shown) >= 11, shown
    (tmp_path / f"charts_{viewport['width']}.png").write_bytes(png)


# ---------------------------------------------------------------- the summary reads in a minute


def test_word_counter_counts_what_a_reader_sees(browser, tmp_path):
    page = tmp_path / "words.html"
    page.write_text('<html><head><meta name="viewport" content="width=device-width, initial-scale=1"></head>'
                    '<body style="margin:0;font-size:16px"><p>One two · three, $4.5M</p>'
                    '<p style="display:none">hidden words here</p><div style="height:2000px"></div><p>far below</p>'
                    "</body></html>")
    w = browser.words(page)
    assert (w["first"], w["all"]) == (4, 6) and w["firstText"] == "One two three, $4.5M"  # '·' is no word


@pytest.mark.e2e
def test_pack_summary_first_screen_and_whole_page_read_in_a_minute(browser, pack_run):
    run_dir = pack_run["run_dir"]
    assert run_dir is not None, pack_run["proc"].stdout[-2000:] + pack_run["proc"].stderr[-2000:]
    w = browser.words(run_dir / "executive_summary.html")
    assert w["first"] <= 150, (w["first"], w["firstText"])  # a phone's first screen: the decisions
    assert "Decisions" in w["firstText"] and "Recommended" in w["firstText"] + w["text"]
    assert w["all"] <= 650, (w["all"], w["text"])
    # the analysts' words only in the glossary, which explains them
    body = w["text"].split("Reports and terms")[0]
    for jargon in ("lag-1", "lag 1", "lag 4", "WAPE", "FVA", "tracking signal", "tracking-signal", "naive"):
        assert jargon not in body, jargon
    for measure in ("DSO (days), on invoiced sales", "13 weeks 13-week average to", "this week vs"):  # "=" is no word
        assert measure in w["text"], measure  # every measure with its basis and period
