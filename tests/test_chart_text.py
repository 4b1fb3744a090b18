"""The rule for a chart's text as shown (soe_helpers.report.chart_text) and the email's charts drawn by it."""
from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.text import Text

from soe_helpers.report import chart_text as ct
from soe_helpers.report import summary as sm

DEMAND = {"quarter": "2026-Q4", "plan_quarter": 10_000_000.0, "actual_qtd": 5_500_000.0, "landing": 9_520_000.0}
WEEKS = [f"2026-W{w}" for w in range(48, 53)] + [f"2027-W0{w}" for w in range(1, 9)]
SCENARIOS = ["baseline", "without detected events", "Switch S-017 to a backup vendor", "SEN-1007 spike +25% for 6 weeks"]
CASH = pd.DataFrame({"scenario": [s for s in SCENARIOS for _ in WEEKS], "week": WEEKS * len(SCENARIOS),
                     "closing_cash": [2e6 - 6e4 * i - 1e5 * k for k in range(len(SCENARIOS)) for i in range(13)]})


def email_charts():
    return {"landing": sm.landing_chart(DEMAND, "$", ct.EMAIL),
            "cash": sm.cash_chart(CASH, 1_000_000.0, "$", fmt=ct.EMAIL)}


def test_shown_text_px_on_paper():
    # the old email: legend at 8 pt, 144 dpi, PNG 872 px wide, shown 356 px wide on a phone -> 6.5 px
    assert ct.shown_text_px(8, dpi=144, png_width=872, shown_width=356) == pytest.approx(8 * 2 * 356 / 872)
    # 11.2 pt at 150 dpi = 23.33 px in the PNG; a 720 px PNG shown at 356 px: 23.33 * 356 / 720 = 11.5 px
    assert ct.shown_text_px(11.2, dpi=150, png_width=720) == pytest.approx(11.2 * 150 / 72 * 356 / 720)
    # the inverse: the smallest font that shows 11 px on a phone, for a 4.8 in figure (any dpi)
    pt = ct.font_pt_for_px(11, width_in=4.8)
    assert pt == 10.7  # 11 * 72 * 4.8 / 356 = 10.68, rounded up
    for dpi in (100, 150, 200):
        assert ct.shown_text_px(pt, dpi=dpi, png_width=4.8 * dpi) >= 11
    with pytest.raises(ValueError):
        ct.shown_text_px(8, dpi=144, png_width=0)


def test_png_size_reads_the_header():
    png = sm.figure_png(sm.landing_chart(DEMAND, "$", ct.EMAIL), ct.EMAIL)
    assert ct.png_size(png) == (720, 465)  # 4.8 x 3.1 in at 150 dpi, not cropped
    with pytest.raises(ValueError, match="not a PNG"):
        ct.png_size(b"GIF89a" + b"\0" * 30)


@pytest.mark.parametrize("name", ["landing", "cash"])
def test_every_text_of_an_email_chart_reads_at_11px_on_a_phone(name):
    fig = email_charts()[name]
    png = sm.figure_png(fig, ct.EMAIL)
    texts = ct.drawn_texts(fig)
    shown = [t.get_text() for t in texts]
    sizes = {t.get_text(): t.get_fontsize() for t in texts}
    # the walk finds the tick labels, the legend and the title, at the sizes the figure uses
    if name == "landing":
        assert {"Plan", "Projected", "Quarter plan", "Open orders + not yet booked", "$9.52M"} <= set(shown)
    else:
        assert {"W48", "low $1.28M", "baseline (forecast)", "minimum $1.00M", SCENARIOS[2]} <= set(shown)
    assert min(sizes.values()) == ct.smallest_text_pt(fig) == ct.EMAIL.text_pt
    width = ct.png_size(png)[0]
    assert width == 720
    px = ct.smallest_shown_text_px(fig, png, ct.EMAIL.dpi)
    assert px == pytest.approx(ct.EMAIL.text_pt * 150 / 72 * 356 / 720) and px >= ct.MIN_TEXT_PX
    # the PNG says how tall its smallest text is in its own pixels: what a browser check combines with the
    # rendered width
    assert ct.png_min_text_px(png) == pytest.approx(ct.EMAIL.text_pt * 150 / 72, abs=0.01)
    assert ct.png_min_text_px(png) * 356 / width >= ct.MIN_TEXT_PX
    # nothing is cut off at the figure's edges (long scenario names, the title)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t in texts:
            e = t.get_window_extent(r)
            assert e.x0 >= -1 and e.x1 <= fig.bbox.x1 + 1 and e.y0 >= -1 and e.y1 <= fig.bbox.y1 + 1, t.get_text()


def test_the_report_charts_keep_their_sizes():
    """The summary charts' default REPORT sizes are unchanged: 6.4 in wide, 7 pt legends. Shown at 358 px on a
    phone, their legends read at under 6 px: why the email draws its own and the summary notebook draws in PAGE."""
    fig = sm.landing_chart(DEMAND, "$")
    assert tuple(fig.get_size_inches()) == (6.4, 2.2) and ct.smallest_text_pt(fig) == 7
    png = sm.figure_png(fig)
    assert ct.smallest_shown_text_px(fig, png, 144) < 6  # 7 pt * 2 px/pt * 356 / 906 = 5.5 px
    fig = sm.cash_chart(CASH, 1_000_000.0, "$")
    assert tuple(fig.get_size_inches()) == (6.4, 2.7) and ct.smallest_text_pt(fig) == 7


def test_email_charts_are_small_palette_pngs():
    for name, fig in email_charts().items():
        png = sm.figure_png(fig, ct.EMAIL)
        assert png[25] == 3, name  # colour type 3: a palette image
        assert len(png) < 40_000, (name, len(png))


def test_legend_columns_and_title_wrap_fit_the_width():
    assert ct.legend_columns(["Quarter plan", "Shipped to date"], ct.EMAIL) == 2
    assert ct.legend_columns(["Quarter plan", "Open orders + not yet booked"], ct.EMAIL) == 1
    title = ct.wrap_title("2026-Q4 revenue: projected landing vs plan", ct.EMAIL)
    assert "\n" in title and all(len(line) <= ct.fits_chars(4.8 * 0.96, ct.EMAIL.title_pt, True)
                                 for line in title.splitlines())
    assert ct.wrap_title("Closing cash", ct.EMAIL) == "Closing cash"


def test_page_format_reads_at_11px_on_a_phone_whatever_the_crop():
    """The reports' charts (soe_helpers.report.charts and the summary notebook's): 4.8 in wide at 110 dpi; a
    text of PAGE.text_pt shown with the chart at 356 px reads at >= 11.5 px (cropping only narrows the PNG)."""
    assert ct.PAGE.width_in == 4.8 and ct.PAGE.crop and ct.PAGE.text_pt == ct.font_pt_for_px(11.5, width_in=4.8)
    assert ct.shown_text_px(ct.PAGE.text_pt, dpi=110, png_width=4.8 * 110) >= 11.5
    for name, fig in {"landing": sm.landing_chart(DEMAND, "$", ct.PAGE),
                      "cash": sm.cash_chart(CASH, 1_000_000.0, "$", fmt=ct.PAGE)}.items():
        png = sm.figure_png(fig, ct.PAGE)
        assert ct.png_min_text_px(png) * ct.PHONE_SHOWN_PX / ct.png_size(png)[0] >= ct.MIN_TEXT_PX, name
