"""How large a chart's text looks where it is shown: the one rule, and the chart format the email draws with.

A PNG chart is drawn at ``dpi`` dots per inch, so a ``fontsize_pt`` text is ``fontsize_pt * dpi / 72``
pixels tall *in the PNG*; a mail app or browser then scales the whole PNG to the width it shows it at,
so the reader sees::

    shown_px = fontsize_pt * dpi / 72 * shown_width / png_width

The email shows its charts at ``width: 100%; max-width: 600px`` inside 16 px of padding: 356 CSS px
on a 390 px phone as Chromium lays it out (:data:`PHONE_SHOWN_PX`; tests/test_browser.py measures it),
600 px on a desktop. Every text of an email chart (tick
labels, legend, annotations, title) must be at least :data:`MIN_TEXT_PX` = 11 px on the phone.
:func:`smallest_shown_text_px` measures it on a drawn figure and its PNG; :data:`EMAIL` is the chart
format whose fonts :func:`font_pt_for_px` derives from the same rule.
"""
from __future__ import annotations

import io
import math
import struct
import textwrap
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = [
    "PHONE_SHOWN_PX", "EMAIL_MAX_PX", "MIN_TEXT_PX", "PNG_TEXT_KEY", "ChartFormat", "REPORT", "EMAIL", "PAGE",
    "shown_text_px", "font_pt_for_px", "png_size", "drawn_texts", "smallest_text_pt", "smallest_shown_text_px",
    "chart_png", "png_min_text_px", "fits_chars", "wrap_title", "legend_columns",
]

#: Width at which an email chart is shown on a 390 px phone (390 px less the padding, as rendered).
PHONE_SHOWN_PX = 356
#: The email's charts are never shown wider than this (CSS max-width).
EMAIL_MAX_PX = 600
#: The smallest text a reader should have to read, in CSS px as shown.
MIN_TEXT_PX = 11
#: PNG text chunk where :func:`chart_png` records the smallest text's height in the PNG's own pixels.
PNG_TEXT_KEY = "soe:smallest-text-px"


def shown_text_px(fontsize_pt: float, *, dpi: float, png_width: float, shown_width: float = PHONE_SHOWN_PX) -> float:
    """Height in CSS px of a ``fontsize_pt`` text of a PNG drawn at ``dpi`` and ``png_width`` pixels wide,
    shown ``shown_width`` CSS px wide: ``fontsize_pt * dpi / 72 * shown_width / png_width``.

    >>> round(shown_text_px(8, dpi=144, png_width=872, shown_width=356), 1)   # the old email legend
    6.5
    """
    if png_width <= 0 or dpi <= 0:
        raise ValueError(f"png_width and dpi must be positive (got {png_width}, {dpi})")
    return fontsize_pt * dpi / 72 * shown_width / png_width


def font_pt_for_px(px: float, *, width_in: float, shown_width: float = PHONE_SHOWN_PX) -> float:
    """The font size in points that shows ``px`` CSS px tall when a figure ``width_in`` inches wide (saved
    without cropping, so ``png_width = width_in * dpi`` whatever the dpi) is shown ``shown_width`` px wide:
    the inverse of :func:`shown_text_px`, rounded up to 0.1 pt."""
    return math.ceil(px * 72 * width_in / shown_width * 10) / 10


@dataclass(frozen=True)
class ChartFormat:
    """Size and type of a summary chart.

    ``text_pt``/``title_pt`` None keep each chart's own report sizes (:data:`REPORT`); ``crop`` saves
    with a tight bounding box (the PNG may then be narrower than ``width_in * dpi``); ``colors`` > 0
    palette-quantises the PNG (charts have few colours: a fraction of the bytes, the same look).
    """

    name: str
    width_in: float
    dpi: int
    text_pt: float | None = None
    title_pt: float | None = None
    crop: bool = True
    colors: int = 0

    def text(self, report_pt: float) -> float:
        """The size of a chart text drawn ``report_pt`` in the report."""
        return report_pt if self.text_pt is None else self.text_pt

    def title(self, report_pt: float | None = None) -> float | None:
        return report_pt if self.title_pt is None else self.title_pt


#: The executive summary's charts as the notebook shows them (unchanged sizes).
REPORT = ChartFormat("report", width_in=6.4, dpi=144)
#: The email's charts: 4.8 in wide, every text >= 11.5 px on a phone by :func:`font_pt_for_px`
#: (half a pixel above the floor), 150 dpi = 720 px wide: sharp at 356 px on a 2x phone screen.
EMAIL = ChartFormat("email", width_in=4.8, dpi=150,
                    text_pt=font_pt_for_px(MIN_TEXT_PX + 0.5, width_in=4.8),
                    title_pt=font_pt_for_px(MIN_TEXT_PX + 2.5, width_in=4.8), crop=False, colors=64)


#: The reports' own charts (soe_helpers.report.charts, shown in the HTML reports at the page's width, never wider
#: than their PNG): 4.8 in wide at 110 dpi (528 px before cropping), every text >= 11.5 px when the page shows
#: the chart 356 px wide on a 390 px phone (11.1 pt), titles 13.5 px. Palette PNGs keep the reports light.
PAGE = ChartFormat("page", width_in=4.8, dpi=110,
                   text_pt=font_pt_for_px(MIN_TEXT_PX + 0.5, width_in=4.8),
                   title_pt=font_pt_for_px(MIN_TEXT_PX + 2.5, width_in=4.8), crop=True, colors=64)


#: Average glyph width of the charts' sans-serif font, in ems (DejaVu Sans: ~0.6, bold ~0.66).
_EM_WIDTH = {False: 0.6, True: 0.66}


def fits_chars(width_in: float, fontsize_pt: float, bold: bool = False) -> int:
    """How many characters of an average text fit in ``width_in`` inches at ``fontsize_pt``."""
    return max(1, int(width_in * 72 / (fontsize_pt * _EM_WIDTH[bold])))


def wrap_title(text: str, fmt: ChartFormat) -> str:
    """A chart title broken into lines that fit the figure's width at the format's title size."""
    size = fmt.title() or 11
    return "\n".join(textwrap.wrap(text, fits_chars(fmt.width_in * 0.96, size, bold=True)) or [text])


def legend_columns(labels: list[str], fmt: ChartFormat, max_cols: int = 2) -> int:
    """Legend columns (at most ``max_cols``) whose entries all fit the figure's width at the format's text size:
    each entry takes its label plus about three ems of line handle and spacing."""
    size = fmt.text(9)
    longest = max((len(lab) for lab in labels), default=0) + 3
    return max(1, min(max_cols, fits_chars(fmt.width_in * 0.98, size) // max(longest, 1)))


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels read from a PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return struct.unpack(">II", png[16:24])


def drawn_texts(fig: Figure) -> list[Text]:
    """Every text the figure shows: visible, not blank, and inside the figure once drawn
    (tick labels of ticks outside the axis limits are kept by matplotlib but never drawn)."""
    canvas = fig.canvas if hasattr(fig.canvas, "get_renderer") else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        ext = t.get_window_extent(renderer)
        if ext.x1 < box.x0 or ext.x0 > box.x1 or ext.y1 < box.y0 or ext.y0 > box.y1:
            continue
        out.append(t)
    return out


def smallest_text_pt(fig: Figure) -> float:
    """The font size (pt) of the smallest text the figure shows."""
    sizes = [t.get_fontsize() for t in drawn_texts(fig)]
    if not sizes:
        raise ValueError("the figure shows no text")
    return min(sizes)


def smallest_shown_text_px(fig: Figure, png: bytes, dpi: float, shown_width: float = PHONE_SHOWN_PX) -> float:
    """CSS px of the figure's smallest text when its PNG ``png`` (saved at ``dpi``) is shown ``shown_width`` wide:
    :func:`shown_text_px` on the fonts the figure actually uses and the PNG's actual pixel width."""
    return shown_text_px(smallest_text_pt(fig), dpi=dpi, png_width=png_size(png)[0], shown_width=shown_width)


def chart_png(fig: Figure, fmt: ChartFormat = REPORT) -> bytes:
    """PNG bytes of a chart in format ``fmt``; the smallest text's height in the PNG's own pixels is
    recorded in the PNG (text chunk :data:`PNG_TEXT_KEY`), so whoever shows it can check what a reader sees
    (:func:`png_min_text_px`)."""
    from PIL import Image, PngImagePlugin  # Pillow comes with matplotlib; only charts for a message need it

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fmt.dpi, bbox_inches="tight" if fmt.crop else None, facecolor="white")
    img = Image.open(io.BytesIO(buf.getvalue()))
    if fmt.colors:
        img = img.convert("RGB").quantize(colors=fmt.colors, method=Image.Quantize.FASTOCTREE,
                                          dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_TEXT_KEY, f"{smallest_text_pt(fig) * fmt.dpi / 72:.2f}")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True, pnginfo=info)
    return out.getvalue()


def png_min_text_px(png: bytes) -> float | None:
    """The smallest text's height in the PNG's own pixels, as :func:`chart_png` recorded it (None if absent)."""
    from PIL import Image  # Pillow comes with matplotlib; read only where a chart is checked

    value = Image.open(io.BytesIO(png)).text.get(PNG_TEXT_KEY)
    return float(value) if value else None
