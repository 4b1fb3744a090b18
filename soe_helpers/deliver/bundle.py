"""Every report of a run in one self-contained page, ``weekly_pack_<week>.html``: the email's one attachment.

Seven attached HTML files are quarantined by some mail systems, not previewed by phone mail apps, and
the summary's links between them (``href="cash_impact.html"``) resolve nowhere once attached. The
bundle is one page instead:

* the pack's header (company, week, data as of, run), a table of contents, then each report as a
  section ``<section id="cash_impact">`` with its title and its body as the report shows it (no code:
  the reports are already built without input cells);
* links rewritten inside the document: ``cash_impact.html`` -> ``#cash_impact``, a heading anchor
  ``#Trends`` of a report -> ``#execution_kpis--Trends`` (ids are prefixed with their report, so two
  reports' headings never clash); a link to a report that is not in the bundle becomes its plain text
  (or the report's URL when ``email.report_url`` gives one);
* charts recompressed: palette PNGs (charts have few colours), and at the lower levels of
  :data:`LEVELS` downscaled, drawn at their original width so the page's layout stays the same;
* one stylesheet (the reports' own, :data:`soe_helpers.run.html.REPORT_CSS`), no scripts, no external
  resources: it opens the same from a mail app, a file share or a browser, offline.

:func:`bundle_html` builds the page at one level; the email picks the best level that keeps the
message under ``email.max_email_kb`` (:mod:`soe_helpers.deliver.mail`).
"""
from __future__ import annotations

import base64
import binascii
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from PIL import Image

from soe_helpers.run.html import render_page

__all__ = ["Level", "LEVELS", "BundleReport", "recompress_png", "read_report", "read_report_text", "unwrap_cells", "section_html",
           "bundle_html", "BUNDLE_CSS"]


@dataclass(frozen=True)
class Level:
    """How hard the bundle's charts are recompressed: ``scale`` of their pixel size, palette ``colors``."""

    scale: float
    colors: int


#: From the best look to the smallest file; the email takes the first whose message fits its limit.
#: On the demo week the charts' bytes go from 865 KB (as the notebooks drew them) to about 210 / 175 / 145 /
#: 105 KB; 32 colours and 75 % of the pixels still draw every line and label of the pack's charts.
LEVELS: tuple[Level, ...] = (Level(1.0, 64), Level(0.85, 48), Level(0.75, 32), Level(0.65, 24))


@dataclass(frozen=True)
class BundleReport:
    """One report of the bundle: its name (the HTML file's stem, the section's id), title and page."""

    name: str
    title: str
    page: str


def recompress_png(png: bytes, level: Level) -> tuple[bytes, int]:
    """(PNG bytes, original pixel width) of a chart at ``level``: scaled, palette-quantised without dithering
    (dithering would scatter noise into flat chart colours and cost bytes), optimised."""
    img = Image.open(io.BytesIO(png))
    width = img.width
    img = img.convert("RGB")
    if level.scale < 1:
        img = img.resize((max(1, round(img.width * level.scale)), max(1, round(img.height * level.scale))),
                         Image.Resampling.LANCZOS)
    img = img.quantize(colors=level.colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    data = out.getvalue()
    return (data if len(data) < len(png) or level.scale < 1 else png), width


_TITLE = re.compile(r'<h1 class="soe-title">(.*?)</h1>', re.S)
_MAIN = re.compile(r'<main class="soe-report">\n?(.*?)\n?</main>', re.S)
_BODY = re.compile(r"<body[^>]*>(.*?)</body>", re.S | re.I)


def read_report_text(name: str, page: str, title: str | None = None) -> BundleReport:
    """A report page as a part of the bundle (its title from the page's header when not given)."""
    m = _TITLE.search(page)
    found = html.unescape(m.group(1)).strip() if m else ""
    return BundleReport(name, title or found or name.replace("_", " ").capitalize(), page)


def read_report(path: Path, title: str | None = None) -> BundleReport:
    """A published report page read from the run folder (named by its file's stem)."""
    return read_report_text(Path(path).stem, Path(path).read_text(encoding="utf-8"), title)


_IMG_SRC = re.compile(r'(<img\b[^>]*?)\ssrc="data:image/png;base64,([A-Za-z0-9+/=\s]+)"([^>]*>)')
_ANCHOR_LINK = re.compile(r'<a class="anchor-link"[^>]*>.*?</a>', re.S)
_CELL_ID = re.compile(r'\sid="cell-id=[^"]*"')
_ID = re.compile(r'\sid="([^"]+)"')
_HREF_LOCAL = re.compile(r'href="#([^"]*)"')
_LINK_TO_PAGE = re.compile(r'<a\b([^>]*?)\shref="([A-Za-z0-9_\-]+)\.html(#[^"]*)?"([^>]*)>(.*?)</a>', re.S)


def _body(page: str) -> str:
    m = _MAIN.search(page) or _BODY.search(page)
    return m.group(1) if m else page


#: nbconvert's wrappers around each cell's output (the reports style none of them; ``output_subarea``,
#: which scrolls wide tables in their own box, is kept).
_WRAPPERS = {frozenset(c.split()) for c in (
    "cell border-box-sizing code_cell rendered", "cell border-box-sizing text_cell rendered", "output_wrapper",
    "output", "output_area", "inner_cell", "text_cell_render border-box-sizing rendered_html")}
_DIV_TAG = re.compile(r'<div\b([^>]*)>|</div>')
_CLASS = re.compile(r'\sclass="([^"]*)"')


def unwrap_cells(body: str) -> str:
    """``body`` without nbconvert's cell wrapper ``<div>``s (their content kept): a tenth of a report's markup.
    Tags are matched open to close, so only a wrapper's own closing tag goes with it."""
    out, pos, stack = [], 0, []
    for m in _DIV_TAG.finditer(body):
        if m.group(0) == "</div>":
            drop = stack.pop() if stack else False
        else:
            cls = _CLASS.search(m.group(1) or "")
            drop = cls is not None and frozenset(cls.group(1).split()) in _WRAPPERS and \
                _CLASS.sub("", m.group(1)).strip() == ""
            stack.append(drop)
        if drop:
            out.append(body[pos:m.start()])
            pos = m.end()
    out.append(body[pos:])
    return re.sub(r">\n\s*\n+", ">\n", "".join(out))


def section_html(report: BundleReport, in_bundle: Sequence[str], level: Level,
                 links: Mapping[str, str] | None = None) -> str:
    """One report as a section of the bundle: ids prefixed, links rewritten, charts recompressed."""
    name, links = report.name, links or {}
    body = unwrap_cells(_CELL_ID.sub("", _ANCHOR_LINK.sub("", _body(report.page))))
    body = _ID.sub(lambda m: f' id="{name}--{m.group(1)}"', body)
    body = _HREF_LOCAL.sub(lambda m: f'href="#{name}--{m.group(1)}"' if m.group(1) else 'href="#contents"', body)

    def page_link(m: re.Match) -> str:
        before, target, frag, after, text = m.groups()
        if target in in_bundle:
            return f'<a{before} href="#{target}{"--" + frag[1:] if frag and len(frag) > 1 else ""}"{after}>{text}</a>'
        if links.get(target):
            return f'<a{before} href="{html.escape(links[target], quote=True)}"{after}>{text}</a>'
        return text  # the report is not in the bundle and has no URL: nothing to link to

    body = _LINK_TO_PAGE.sub(page_link, body)

    def image(m: re.Match) -> str:
        try:
            png = base64.b64decode(m.group(2), validate=False)
            small, width = recompress_png(png, level)
        except (binascii.Error, OSError, ValueError):
            return m.group(0)  # not an image Pillow reads: left as the report has it
        size = f' width="{width}"' if level.scale < 1 and " width=" not in m.group(1) + m.group(3) else ""
        return f'{m.group(1)} src="data:image/png;base64,{base64.b64encode(small).decode()}"{size}{m.group(3)}'

    body = _IMG_SRC.sub(image, body)
    return (f'<section class="soe-part" id="{html.escape(name, quote=True)}">\n'
            f'<h1 class="soe-part-title">{html.escape(report.title)}</h1>\n{body}\n'
            '<p class="soe-back"><a href="#contents">Back to contents</a></p>\n</section>')


BUNDLE_CSS = """
.soe-report h1.soe-part-title { display: block; font-size: 1.4em; color: var(--soe-accent); line-height: 1.2;
       margin: 36px 0 4px; padding-top: 12px; border-top: 3px solid var(--soe-accent); }
.soe-toc ol { padding-left: 1.4em; margin: 6px 0 0; }
.soe-toc li { margin: 0 0 6px; }
.soe-toc .soe-state { color: var(--soe-muted); font-size: .9em; }
.soe-back { font-size: .9em; margin-top: 18px; }
"""


def bundle_html(reports: Sequence[BundleReport], header: Mapping[str, str], *, level: Level = LEVELS[0],
                links: Mapping[str, str] | None = None, not_included: Sequence[tuple[str, str]] = ()) -> str:
    """The bundle page: the pack's header, a table of contents, then every report as a section.

    Args:
        reports: the reports to include, in the order shown (the executive summary first).
        header: the pack's header (company, week, quarter, as_of, generated, run_id), escaped here.
        level: how hard charts are recompressed (:data:`LEVELS`).
        links: report name -> URL, for links to reports that are not in the bundle.
        not_included: (title, why) of pack reports left out (failed, not run): listed in the contents.
    """
    names = [r.name for r in reports]
    toc = "".join(f'<li><a href="#{html.escape(r.name, quote=True)}">{html.escape(r.title)}</a></li>'
                  for r in reports)
    toc += "".join(f'<li>{html.escape(t)} <span class="soe-state">({html.escape(why)})</span></li>'
                   for t, why in not_included)
    body = (f'<nav class="soe-toc" id="contents"><h2>Contents</h2><ol>{toc}</ol>'
            "<p>Every report of this week's run in one page: the links in the summary go to the sections below."
            "</p></nav>\n" + "\n".join(section_html(r, names, level, links) for r in reports))
    e = lambda k: html.escape(str(header.get(k) or ""))  # noqa: E731
    bits = [e("company"), *(f"{label} {e(k)}" for label, k in (("week", "week"), ("data as of", "as_of"),
                                                                ("run", "run_id")) if header.get(k))]
    footer = (" · ".join(b for b in bits if b) + ". Amounts in the company currency; negatives in red with a minus "
              "sign. Generated by the S&amp;OE weekly pack: every report of the run in one page; the executed "
              "notebooks of the run are its audit record.")
    return render_page(body, {"title": "S&OE weekly pack", **header}, footer=footer, css_extra=BUNDLE_CSS)
