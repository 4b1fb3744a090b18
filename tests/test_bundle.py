"""The weekly pack bundle (soe_helpers.deliver.bundle): every report in one self-contained page."""
from __future__ import annotations

import base64
import io
import re

import pytest
from matplotlib.figure import Figure
from PIL import Image

from soe_helpers.deliver import bundle as bd
from soe_helpers.run.html import render_page

HEADER = {"company": "Kestrel Components Inc.", "week": "2026-W47", "as_of": "2026-11-22", "run_id": "R1"}


def chart_png(width_in: float = 6.4, dpi: int = 110) -> bytes:
    fig = Figure(figsize=(width_in, 2.5), dpi=dpi)
    ax = fig.subplots()
    for k in range(4):
        ax.plot(range(30), [((i * (k + 3)) % 17) for i in range(30)], label=f"line {k}")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def cell(inner: str) -> str:
    """An output cell as nbconvert's basic template writes it."""
    return ('<div class="cell border-box-sizing code_cell rendered" id="cell-id=ab12">\n<div class="output_wrapper">\n'
            '<div class="output">\n<div class="output_area">\n'
            f'<div class="output_html rendered_html output_subarea">{inner}</div>\n</div>\n</div>\n</div>\n</div>')


def report_page(title: str, body: str) -> str:
    return render_page(body, {**HEADER, "title": title})


PNG = chart_png()
SUMMARY = report_page("Executive summary", (
    '<div class="cell border-box-sizing text_cell rendered" id="cell-id=cd34"><div class="inner_cell">\n'
    '<div class="text_cell_render border-box-sizing rendered_html">\n<h2 id="This-week">This week'
    '<a class="anchor-link" href="#This-week"></a></h2><p><a href="#This-week">top</a></p>\n</div>\n</div>\n</div>\n'
    + cell('<p>Cash is low: <a href="cash_impact.html">Full report</a> · <a href="cash_impact.html#Events">events</a> '
           '· <a href="data_accuracy.html">Full report</a> &lt;script&gt;alert(1)&lt;/script&gt;</p>')
    + cell(f'<img alt="Chart" src="data:image/png;base64,{base64.b64encode(PNG).decode()}"/>')))
CASH = report_page("Cash impact", '<h2 id="Events">Events</h2>' + cell(
    '<table class="soe-table"><tr><td class="num neg">-$12K</td></tr></table>'))


def reports():
    return [bd.BundleReport("executive_summary", "Executive summary", SUMMARY),
            bd.read_report_text("cash_impact", CASH)]


def test_one_page_with_contents_and_every_report_as_a_section():
    page = bd.bundle_html(reports(), HEADER, not_included=[("Data accuracy", "failed this week")])
    assert page.count("<!DOCTYPE html>") == 1 and page.count("<style>") == 1 and "<script" not in page
    toc = page[page.index('id="contents"'):page.index('<section')]
    assert '<a href="#executive_summary">Executive summary</a>' in toc and '<a href="#cash_impact">Cash impact</a>' in toc
    assert "Data accuracy <span class=\"soe-state\">(failed this week)</span>" in toc
    assert re.findall(r'<section class="soe-part" id="([^"]+)">', page) == ["executive_summary", "cash_impact"]
    assert '<h1 class="soe-part-title">Cash impact</h1>' in page
    assert "Kestrel Components Inc." in page and "2026-W47" in page and "Run: <b>R1</b>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # data stays escaped


def test_links_between_reports_become_links_inside_the_page():
    page = bd.bundle_html(reports(), HEADER)
    assert 'href="cash_impact.html' not in page
    assert '<a href="#cash_impact">Full report</a>' in page and '<a href="#cash_impact--Events">events</a>' in page
    assert 'id="cash_impact--Events"' in page  # the target of that link exists
    assert 'id="executive_summary--This-week"' in page and '<a href="#executive_summary--This-week">top</a>' in page
    # every in-page link resolves to an id of the page
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    assert set(re.findall(r'href="#([^"]+)"', page)) <= ids
    # a report not in the bundle: its URL when there is one, else plain text (never a dead link)
    assert "· Full report &lt;script&gt;" in page and "data_accuracy.html" not in page
    linked = bd.bundle_html(reports(), HEADER, links={"data_accuracy": "https://r.example.com/data_accuracy.html"})
    assert '<a href="https://r.example.com/data_accuracy.html">Full report</a>' in linked


def test_cell_wrappers_anchor_links_and_cell_ids_are_dropped_tables_keep_their_scroll_box():
    page = bd.bundle_html(reports(), HEADER)
    body = page[page.index("<main"):page.index("</main>")]
    assert "anchor-link" not in body and "cell-id=" not in body and "output_wrapper" not in body
    assert body.count("<div") == body.count("</div>")
    assert '<div class="output_html rendered_html output_subarea"><table class="soe-table">' in body
    assert bd.unwrap_cells('<div class="output"><div class="x"><p>a</p></div></div>') == '<div class="x"><p>a</p></div>'


@pytest.mark.parametrize("level", bd.LEVELS)
def test_charts_are_recompressed_and_keep_their_layout_width(level):
    page = bd.bundle_html(reports(), HEADER, level=level)
    (tag,) = re.findall(r"<img\b[^>]*>", page)
    png = base64.b64decode(re.search(r'base64,([^"]+)"', tag).group(1))
    img = Image.open(io.BytesIO(png))
    assert img.mode == "P" and len(img.getcolors()) <= level.colors  # a palette of at most `colors`
    assert img.width == round(704 * level.scale) and len(png) < len(PNG)
    if level.scale < 1:
        assert 'width="704"' in tag  # drawn as wide as the report drew it
    else:
        assert "width=" not in tag


def test_the_levels_go_from_best_look_to_smallest_file():
    sizes = [len(bd.bundle_html(reports(), HEADER, level=lv)) for lv in bd.LEVELS]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]
    assert [lv.scale for lv in bd.LEVELS] == sorted((lv.scale for lv in bd.LEVELS), reverse=True)


def test_a_page_without_the_report_template_is_bundled_from_its_body(tmp_path):
    (tmp_path / "odd.html").write_text("<html><body><p>plain page</p></body></html>")
    r = bd.read_report(tmp_path / "odd.html")
    assert (r.name, r.title) == ("odd", "Odd")
    assert "<p>plain page</p>" in bd.bundle_html([r], HEADER)
