"""outputs/index.html: every week with its status, headline, landing, cash low point and report links."""
from __future__ import annotations

import json

from soe_helpers.report.history import index_html, week_rows, write_index


def _run(week_dir, run_id, status=None, results=None, reports=(), failed_marker=False):
    d = week_dir / run_id
    d.mkdir(parents=True)
    if status:
        (d / "manifest.json").write_text(json.dumps({"status": status}))
    if results is not None:
        (d / "results.json").write_text(json.dumps(results))
    for r in reports:
        (d / f"{r}.html").write_text("<html></html>")
    if failed_marker:
        (d / "FAILED").write_text("x")
    return d


RES = {"executive_summary": {"headline": "Q4 lands 1% behind plan"},
       "demand_reconciliation": {"landing": 9_900_000.0, "plan_quarter": 10_000_000.0},
       "cash_impact": {"lowest_cash_any_line": 939_000.0, "lowest_cash_any_line_week": "2027-W01"}}


def test_rows_newest_first_with_figures_from_the_latest_good_run(tmp_path):
    _run(tmp_path / "2026-W46", "20261124T060000Z", "ok", RES, ["executive_summary", "cash_impact"])
    _run(tmp_path / "2026-W47", "20261201T060000Z", "ok", RES, ["executive_summary"])
    _run(tmp_path / "2026-W47", "20261201T070000Z", failed_marker=True)        # a later run died
    (_run(tmp_path / "2025-W52", "20251229T060000Z") / "params.json").write_text("{}")  # killed: no manifest
    (tmp_path / "interactive").mkdir()
    rows = week_rows(tmp_path)
    assert [r.week for r in rows] == ["2026-W47", "2026-W46", "2025-W52"]
    w47 = rows[0]
    assert w47.status == "failed" and w47.run_id == "20261201T060000Z" and w47.latest_run_id == "20261201T070000Z"
    assert w47.cash_low == 939_000.0 and w47.cash_low_week == "2027-W01" and w47.landing == 9_900_000.0
    assert w47.reports == {"executive_summary": "2026-W47/20261201T060000Z/executive_summary.html"}
    assert rows[2].status == "aborted" and rows[2].run_id is None
    page = index_html(rows, "Kestrel <Components>", "€")
    assert "Kestrel &lt;Components&gt;" in page and "€9.90M vs €10.00M" in page and "€939K in 2027-W01" in page
    assert 'href="2026-W46/20261124T060000Z/cash_impact.html"' in page and "$" not in page


def test_write_index_replaces_the_page(tmp_path):
    _run(tmp_path / "2026-W47", "20261201T060000Z", "ok", RES, ["executive_summary"])
    p = write_index(tmp_path, "Co", "$")
    assert p == tmp_path / "index.html" and "2026-W47" in p.read_text()
    assert [f.name for f in tmp_path.iterdir() if f.is_file()] == ["index.html"]
