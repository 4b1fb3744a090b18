"""Executed notebook -> HTML report for leadership: no code, no prompts, no stray output.

papermill's report mode does not hide code in HTML, so the input is dropped here, at
the nbconvert step (``exclude_input``), together with the parameter cells, stderr
streams (warnings) and bare object reprs such as matplotlib's ``Text(...)`` or
``<Figure size ...>``. A header states company, week, data as-of date, generation
time and run id on every report.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

__all__ = ["notebook_to_html", "REPORT_CSS", "CleanOutputs", "STRAY_REPR"]

STRAY_REPR = re.compile(r"^(<(Figure|Axes|matplotlib)[^>]*>|Text\(.*\)|\[<matplotlib.*\]|<AxesSubplot.*>)$", re.S)

REPORT_CSS = """
:root { --soe-ink:#1f2933; --soe-muted:#52606d; --soe-rule:#d9e2ec; --soe-accent:#1f4e79; }
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--soe-ink);
       max-width: 1100px; margin: 0 auto; padding: 0 12px 40px; line-height: 1.45; }
.soe-header { border-bottom: 3px solid var(--soe-accent); padding: 14px 0 8px; margin-bottom: 8px; }
.soe-header .soe-title { font-size: 1.5em; font-weight: 700; color: var(--soe-accent); margin: 0; }
.soe-header .soe-meta { color: var(--soe-muted); font-size: .85em; margin-top: 4px; }
.soe-header .soe-meta span { margin-right: 14px; white-space: nowrap; }
.jp-Cell, .jp-OutputArea-output { overflow-x: auto; }
table.soe-table, .jp-RenderedHTMLCommon table { border-collapse: collapse; font-size: .9em; margin: 6px 0 14px; }
table.soe-table th, table.soe-table td, .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td {
       padding: 4px 8px; border-bottom: 1px solid var(--soe-rule); }
table.soe-table th { background: #f0f4f8; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.neg { color: #b42318; }
.soe-headline { font-size: 1.1em; font-weight: 600; padding: 8px 12px; background: #f0f4f8;
       border-left: 4px solid var(--soe-accent); margin: 8px 0; }
img { max-width: 100%; height: auto; }
@media (max-width: 600px) { body { padding: 0 6px 24px; font-size: 15px; }
  table.soe-table, .jp-RenderedHTMLCommon table { font-size: .8em; } }
"""


class CleanOutputs(Preprocessor):
    """Drop stderr streams and bare object reprs; keep tables, charts, markdown and text the report prints."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                continue
            if out.get("output_type") in ("execute_result", "display_data"):
                data = out.get("data", {})
                if set(data) == {"text/plain"} and STRAY_REPR.match(str(data["text/plain"]).strip()):
                    continue
            kept.append(out)
        cell.outputs = kept
        return cell, resources


def notebook_to_html(ipynb: str | Path, header: dict) -> str:
    """HTML of an executed notebook with input hidden and the report header.

    ``header`` keys: title, company, week, as_of, generated, run_id (all escaped here).
    """
    nb = nbformat.read(str(ipynb), as_version=4)
    exporter = HTMLExporter(template_name="lab")
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
    title = header.get("title") or Path(ipynb).stem.replace("_", " ").title()
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    e = lambda k: html.escape(str(header.get(k, "")))  # noqa: E731
    meta = "".join(
        f"<span>{label}: <b>{e(k)}</b></span>"
        for label, k in (("Week", "week"), ("Data as of", "as_of"), ("Generated", "generated"), ("Run", "run_id"))
        if header.get(k)
    )
    banner = (
        f'<header class="soe-header"><div class="soe-meta"><span><b>{e("company")}</b></span></div>'
        f'<p class="soe-title">{html.escape(title)}</p><div class="soe-meta">{meta}</div></header>'
    )
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, body, count=1)
    body = body.replace("</head>", f"<style>{REPORT_CSS}</style>\n</head>", 1)
    body = re.sub(r"<title>.*?</title>", f"<title>{html.escape(title)} · {e('week')}</title>", body, count=1, flags=re.S)
    return body
