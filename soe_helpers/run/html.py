"""Executed notebook -> HTML report for leadership: one template, no code, no prompts, no stray output.

Every report of the pack shares one page: a header with the company, the report's title,
the week, the data's as-of date, when it was generated and the run id; the notebook's
outputs (tables, charts, sentences) in a single readable column that works from a
390 px phone to a desktop; and a footer repeating where the figures come from.

papermill's report mode does not hide code in HTML, so the input is dropped here, at
the nbconvert step (``exclude_input``), together with the parameter cells, cells tagged
``remove-cell``, the outputs of cells tagged ``remove-output``, stderr streams
(warnings) and bare object reprs: matplotlib's ``Text(...)`` / ``<Figure size ...>`` and
any other value a cell happens to end with that has no rich (HTML or image) form.

The page is built from nbconvert's light ``basic`` body (no JupyterLab theme, no
scripts) wrapped in :data:`PAGE`; its stylesheet :data:`REPORT_CSS` gives money columns
tabular figures, negatives in red, and wide tables their own horizontal scroll so the
page itself never scrolls sideways on a phone.
"""
from __future__ import annotations

import functools
import html
import re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

from soe_helpers.core import run_folder
from soe_helpers.report.display import END_OF_REPORT

__all__ = ["notebook_to_html", "previous_week_header", "render_page", "REPORT_CSS", "CleanOutputs", "STRAY_REPR", "PAGE",
           "ended_here"]

STRAY_REPR = re.compile(r"^(<(Figure|Axes|matplotlib)[^>]*>|Text\(.*\)|\[<matplotlib.*\]|<AxesSubplot.*>)$", re.S)

REPORT_CSS = """
:root { --soe-ink:#1f2933; --soe-muted:#52606d; --soe-rule:#d9e2ec; --soe-accent:#1f4e79; --soe-band:#f0f4f8;
        --soe-neg:#b42318; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--soe-ink);
       background: #fff; margin: 0; line-height: 1.45; font-size: 16px; }
.soe-page { max-width: 1040px; margin: 0 auto; padding: 0 16px 32px; }
.soe-header { border-bottom: 3px solid var(--soe-accent); padding: 14px 0 8px; margin-bottom: 10px; }
.soe-company { font-weight: 700; color: var(--soe-muted); font-size: .9em; letter-spacing: .02em; }
.soe-title { font-size: 1.5em; font-weight: 700; color: var(--soe-accent); margin: 2px 0 4px; line-height: 1.2; }
.soe-meta { color: var(--soe-muted); font-size: .85em; }
.soe-meta span { display: inline-block; margin-right: 14px; white-space: nowrap; }
.soe-footer { border-top: 1px solid var(--soe-rule); margin-top: 28px; padding-top: 8px; color: var(--soe-muted);
       font-size: .8em; }
.soe-report h1 { display: none; } /* the notebook's own title: the header shows it */
h2 { color: var(--soe-accent); font-size: 1.25em; margin: 26px 0 6px; padding-bottom: 3px;
     border-bottom: 1px solid var(--soe-rule); }
h3 { font-size: 1.05em; margin: 18px 0 4px; }
p, li { max-width: 72ch; }
a { color: var(--soe-accent); }
a.anchor-link { display: none; }
code { font-size: .9em; background: var(--soe-band); padding: 0 3px; border-radius: 3px; }
.output_subarea { max-width: 100%; overflow-x: auto; -webkit-overflow-scrolling: touch; }
.output_text pre, pre { white-space: pre-wrap; word-break: break-word; font-size: .85em; }
table.soe-table, table.dataframe { border-collapse: collapse; font-size: .9em; margin: 6px 0 14px; }
table.soe-table th, table.soe-table td, table.dataframe th, table.dataframe td {
       padding: 4px 8px; border-bottom: 1px solid var(--soe-rule); vertical-align: top; }
table.soe-table th, table.dataframe th { background: var(--soe-band); text-align: left; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.code { white-space: nowrap; }
.neg { color: var(--soe-neg); }
.soe-headline { font-size: 1.1em; font-weight: 600; padding: 8px 12px; background: var(--soe-band);
       border-left: 4px solid var(--soe-accent); margin: 8px 0; }
table.soe-summary td { padding: 6px 8px; }
.soe-light { font-weight: 700; white-space: nowrap; }
.soe-link { white-space: nowrap; }
details.soe-group { margin: 6px 0 10px; }
details.soe-group > summary { font-weight: 600; cursor: pointer; padding: 4px 0; }
img { max-width: 100%; height: auto; display: block; }
@media (max-width: 600px) {
  body { font-size: 15px; }
  .soe-page { padding: 0 10px 24px; }
  .soe-title { font-size: 1.3em; }
  table.soe-table, table.dataframe { font-size: .82em; }
  table.soe-table th, table.soe-table td { padding: 3px 5px; }
  table.soe-table.soe-summary { font-size: .95em; width: 100%; }
  table.soe-summary thead { display: none; }
  table.soe-summary tr { display: block; border-bottom: 1px solid var(--soe-rule); padding: 6px 0; }
  table.soe-summary td { display: block; border: 0; padding: 1px 0; }
}
@media print { .soe-page { max-width: none; } a { color: inherit; text-decoration: none; } }
"""

#: The page every report shares; ``{...}`` fields are filled by :func:`render_page` (escaped there).
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="color-scheme" content="light">
<title>{title} · {week}</title>
<style>{css}</style>
</head>
<body>
<div class="soe-page">
<header class="soe-header">
<div class="soe-company">{company}</div>
<h1 class="soe-title">{title}</h1>
<div class="soe-meta">{meta}</div>
</header>
<main class="soe-report">
{body}
</main>
<footer class="soe-footer">{footer}</footer>
</div>
</body>
</html>
"""


class CleanOutputs(Preprocessor):
    """Drop stderr streams and bare reprs; keep tables, charts, markdown and the text a cell prints.

    A bare repr is an output whose only form is ``text/plain``: a cell's last value
    (``execute_result``) such as a dict or a matplotlib ``Text(...)``, or a displayed
    matplotlib object. Printed text (stdout) is kept.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream" and out.get("name") == "stderr":
                continue
            if kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                plain_only = set(data) <= {"text/plain"}
                stray = STRAY_REPR.match(str(data.get("text/plain", "")).strip())
                if plain_only and (kind == "execute_result" or stray):
                    continue
            kept.append(out)
        cell.outputs = kept
        return cell, resources


def render_page(body: str, header: dict, footer: str = "", css_extra: str = "") -> str:
    """The report page around an HTML ``body`` (trusted markup); header values are escaped here.

    ``header`` keys: title, company, week, as_of, generated, run_id (missing ones are left out);
    previous_href and previous_week link the previous week's report (previous_week "" = first week on record).
    ``css_extra``: rules added after :data:`REPORT_CSS` (the weekly pack bundle's contents and sections).
    """
    e = lambda k: html.escape(str(header.get(k) or ""))  # noqa: E731
    meta = "".join(
        f"<span>{label}: <b>{e(k)}</b></span>"
        for label, k in (("Week", "week"), ("Quarter", "quarter"), ("Data as of", "as_of"),
                         ("Generated", "generated"), ("Run", "run_id"))
        if header.get(k)
    )
    if header.get("previous_href"):
        meta += (f'<span>Previous week: <a href="{html.escape(str(header["previous_href"]), quote=True)}">'
                 f'{e("previous_week")}</a></span>')
    elif header.get("previous_week") == "":
        meta += "<span>Previous week: first week on record</span>"
    if not footer:
        bits = [b for b in (e("company"), f"week {e('week')}" if header.get("week") else "",
                            f"data as of {e('as_of')}" if header.get("as_of") else "",
                            f"run {e('run_id')}" if header.get("run_id") else "") if b]
        footer = (" · ".join(bits) + ". Amounts in the company currency; negatives in red with a minus sign. "
                  "Generated by the S&amp;OE weekly pack; the executed notebook beside this file is the audit record.")
    return PAGE.format(title=e("title"), week=e("week"), css=REPORT_CSS + css_extra, company=e("company"), meta=meta,
                       body=body,
                       footer=footer)


@functools.lru_cache(maxsize=1)
def _exporter() -> HTMLExporter:
    """The one exporter of this process: loading its templates costs more than a report; a warm worker
    converts every week's notebooks with it (its preprocessors hold no state between notebooks)."""
    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.anchor_link_text = ""  # no pilcrows after headings
    tags = TagRemovePreprocessor(
        remove_cell_tags={"parameters", "injected-parameters", "remove-cell", "remove_cell"},
        remove_all_outputs_tags={"remove-output", "remove_output"},
        enabled=True,
    )
    exporter.register_preprocessor(tags, enabled=True)
    exporter.register_preprocessor(CleanOutputs(), enabled=True)
    return exporter


def _ends_report(out) -> bool:
    return out.get("output_type") == "error" and (out.get("ename"), str(out.get("evalue"))) in (END_OF_REPORT,
                                                                                              ("SystemExit", ""))


def ended_here(nb):
    """The notebook up to the cell that ended the report (:func:`soe_helpers.report.display.end_report`), that
    cell without its SystemExit output; the cells after it (not run: their headings and text would stand
    empty) are left out. A notebook that ran to its end is returned as it is."""
    for i, cell in enumerate(nb.cells):
        outs = cell.get("outputs", [])
        if any(_ends_report(o) for o in outs):
            cell.outputs = [o for o in outs if not _ends_report(o)]
            nb.cells = nb.cells[: i + 1]
            break
    return nb


def notebook_to_html(ipynb: str | Path, header: dict) -> str:
    """HTML report of an executed notebook: input hidden, the shared header, template and footer.

    ``header`` keys: title, company, week, as_of, generated, run_id (all escaped here).
    """
    nb = ended_here(nbformat.read(str(ipynb), as_version=4))
    title = header.get("title") or Path(ipynb).stem.replace("_", " ").capitalize()
    body, _ = _exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = body.replace('alt="No description has been provided for this image"', 'alt="Chart"')
    # cells left with no output (imports, the record cell) are empty boxes: drop them
    body = re.sub(r'<div class="cell border-box-sizing code_cell rendered[^"]*"[^>]*>\s*</div>\n?', "", body)
    return render_page(body, {**previous_week_header(Path(ipynb), header), **header, "title": title})


def previous_week_header(ipynb: Path, header: dict) -> dict:
    """Header keys linking the previous week's same report when the run folder's week has a full run on record.

    The executed notebook sits in ``<outputs>/<week>/<run_id>/``; the executive summary says it in its own
    first lines, so its header does not repeat it. {} outside a run folder.
    """
    week = header.get("week")
    run_dir = ipynb.parent
    if not week or ipynb.stem == "executive_summary" or run_dir.parent.name != week:
        return {}
    found = run_folder.previous_full_run(week, run_dir.parent.parent)
    if found is None:
        return {"previous_week": ""}
    prev, info = found
    return {"previous_week": prev, "previous_href": run_folder.report_href_from_run(prev, info.path.name, ipynb.stem)}
