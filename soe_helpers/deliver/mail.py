"""The weekly email: built by every run as an ``.eml`` file that survives Gmail and Outlook.

A good run writes ``<run_dir>/email/leadership.eml``::

    multipart/mixed
      multipart/alternative
        text/plain                 the same content as plain sentences
        multipart/related
          text/html                CSS inlined on every element: no <style>, no scripts, no data: URLs
          image/png  (Content-ID)  the charts, drawn for the email (every text >= 11 px on a phone)
      text/html  (attachment)      weekly_pack_<week>.html: every report in one page (email.reports: bundle)

How the full reports reach leadership is ``email.reports``: ``link`` (``email.report_url``; nothing
attached), ``bundle`` (the one attachment, :mod:`soe_helpers.deliver.bundle`; also written into the run
folder) or ``none``. The whole message stays under ``email.max_email_kb`` (500 KB: phone mail apps preview
it whole): the bundle's charts are recompressed as hard as needed (:data:`~soe_helpers.deliver.bundle.LEVELS`),
and a bundle that still does not fit is left out, the email saying where the reports are.

Subject: ``S&OE 2026-W47: 3 decisions; Q4 lands $10.5M vs $10.0M plan; cash low $939K in 2027-W05``
(:func:`soe_helpers.report.summary.subject`). The body leads with the decisions the week asks
(:func:`soe_helpers.report.summary.decisions`) and one line each for landing, cash and delivery, then the
KPI scoreboard, the detail, what changed, the reports and a glossary. To: the
leadership list; Cc: the analysts (``email.copy_analysts``). The HTML part stays below
``email.max_html_kb`` (100 KB: Gmail clips larger messages) or the build fails.

A failed run, or a partial one (not every report of the pack ran and succeeded), writes
``<run_dir>/email/failure_notice.eml`` instead: plain text to the analysts only, naming
what failed and what to do, with **no figures** — leadership never gets stale or partial
numbers.

Secrets never reach a message: nothing here reads the SMTP password or database URLs,
and every error text put in a notice passes through :func:`redact` (values of the secret
environment variables, and passwords inside URLs, become ``***``).
"""
from __future__ import annotations

import datetime as dt
import html
import re
import textwrap
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Iterable, Mapping

import css_inline

from soe_helpers.deliver import bundle as bd
from soe_helpers.report import records
from soe_helpers.report import summary as sm
from soe_helpers.report.chart_text import EMAIL as EMAIL_CHART
from soe_helpers.core import run_folder
from soe_helpers.core.calendar import week_add
from soe_helpers.core.run_folder import EMAIL_DIRNAME, previous_full_run, write_atomic
from soe_helpers.core.secrets import SMTP_PASSWORD_ENV, redact, secret_values

__all__ = [
    "EmailBuildError",
    "SMTP_PASSWORD_ENV",
    "build_run_email",
    "build_leadership_email",
    "LeadershipEmail",
    "compose_leadership_email",
    "build_failure_notice",
    "leadership_html",
    "leadership_text",
    "inline_css",
    "check_html",
    "html_part",
    "secret_values",
    "redact",
    "EMAIL_DIRNAME",
]

_WRAP = 76


class EmailBuildError(RuntimeError):
    """The email cannot be built as promised (too large, unsafe HTML ...): one clear message."""


# secrets: soe_helpers.core.secrets owns secret_values and redact (re-exported here for send and the runner)


# ---------------------------------------------------------------- HTML helpers

# Email CSS: plain selectors only (no variables, no media queries: they cannot be inlined and
# Outlook ignores them); fluid widths so the same markup reads at 390 px and at 640 px.
EMAIL_CSS = """
body { margin: 0; padding: 0; background: #f4f6f8; color: #1f2933;
       font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; font-size: 15px;
       line-height: 1.45; }
table { border-collapse: collapse; }
td { vertical-align: top; }
a { color: #1f4e79; }
.wrap { width: 100%; background: #f4f6f8; }
.container { width: 100%; max-width: 640px; background: #ffffff; margin: 0 auto; }
.header { padding: 16px 16px 10px 16px; border-bottom: 3px solid #1f4e79; }
.company { font-size: 13px; font-weight: bold; color: #52606d; }
.title { font-size: 20px; font-weight: bold; color: #1f4e79; margin: 2px 0 4px 0; }
.meta { font-size: 12px; color: #52606d; }
.headline { padding: 12px 16px; font-size: 17px; font-weight: bold; background: #f0f4f8;
            border-left: 4px solid #1f4e79; }
.section { padding: 12px 16px 4px 16px; }
h2 { font-size: 16px; color: #1f4e79; margin: 8px 0 6px 0; padding-bottom: 3px; border-bottom: 1px solid #d9e2ec; }
.items { width: 100%; }
.items td { padding: 7px 0; border-bottom: 1px solid #e4e7eb; font-size: 14px; }
.light { width: 74px; padding-right: 8px; font-size: 12px; font-weight: bold; white-space: nowrap; }
.topic { font-weight: bold; }
.more { font-size: 12px; color: #52606d; }
.chart { padding: 6px 16px; }
.chart img { display: block; width: 100%; max-width: 600px; height: auto; border: 0; }
.grid { width: 100%; font-size: 13px; }
.grid th { text-align: left; background: #f0f4f8; padding: 4px 6px; font-weight: bold; }
.grid td { padding: 4px 6px; border-bottom: 1px solid #e4e7eb; }
.num { text-align: right; white-space: nowrap; }
.neg { color: #b42318; }
.list { margin: 0; padding-left: 18px; font-size: 14px; }
.list li { margin: 0 0 4px 0; }
.line { margin: 4px 0; font-size: 14px; }
.footer { padding: 12px 16px 18px 16px; font-size: 11px; color: #52606d; border-top: 1px solid #d9e2ec; }
.preheader { display: none; mso-hide: all; font-size: 1px; color: #ffffff; line-height: 1px; max-height: 0;
             max-width: 0;
             opacity: 0; overflow: hidden; }
"""

_INLINER = css_inline.CSSInliner(keep_style_tags=False, keep_link_tags=False, keep_at_rules=False,
                                 load_remote_stylesheets=False)


def inline_css(doc: str) -> str:
    """Every CSS rule of the document's ``<style>`` blocks moved onto the elements; the blocks removed."""
    return _INLINER.inline(doc)


_FORBIDDEN = (
    (re.compile(r"<style\b", re.I), "a <style> block"),
    (re.compile(r"<script\b", re.I), "a <script>"),
    (re.compile(r"""\b(src|href)\s*=\s*["']?\s*data:""", re.I), "a data: URL"),
    (re.compile(r"url\(\s*['\"]?\s*data:", re.I), "a data: URL in CSS"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
)


def check_html(doc: str, max_kb: float = 100) -> list[str]:
    """Problems that would break the email in a mail client (empty list = fine)."""
    problems = [f"the HTML contains {what}" for rx, what in _FORBIDDEN if rx.search(doc)]
    size = len(doc.encode("utf-8"))
    if size > max_kb * 1024:
        problems.append(f"the HTML part is {size / 1024:.0f} KB, above email.max_html_kb = {max_kb:g} KB")
    return problems


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _chip(light: str) -> str:
    word, color = sm.LIGHTS.get(light, sm.LIGHTS["grey"])
    return f'<span style="color:{color}">&#9679;&nbsp;{_e(word)}</span>'


# ---------------------------------------------------------------- the leadership email content


def _context(run_dir: Path, manifest: dict, params, previous: Mapping[str, dict] | None,
             owners: Mapping[str, str] | None) -> dict:
    """Everything both parts show, computed once from the run's records."""
    week = manifest["week"]
    sym = params.company.currency_symbol
    statuses = {n["name"]: n for n in manifest.get("notebooks", []) if n.get("name") != "executive_summary"}
    results = sm.read_run_results(run_dir)
    head = sm.headline(results, statuses, week=week, symbol=sym)
    ok_sections = [r.section for r in sm.PACK if sm.report_state(r, statuses, results, week) == "ok"]
    prev_week = week_add(week, -1)
    changes = (sm.changes_since(results, previous, previous_week=prev_week, materiality=params.materiality,
                                symbol=sym, shown_sections=ok_sections) if previous else None)
    recs = records.load(results, ok=ok_sections, week=week)  # typed; a report not ok this run is None
    kpis = sm.kpi_table(recs.execution_kpis, dso_revenue=params.kpis.dso_revenue)
    decisions = sm.decisions(recs, sm.open_actions(run_dir), symbol=sym, materiality=params.materiality,
                             default_owner=params.actions.default_owner)
    items = sm.build_items(results, statuses, week=week, materiality=params.materiality,
                           rules=params.executive_summary, symbol=sym, owners=owners, decisions=decisions)
    first = sm.first_screen(recs, symbol=sym, materiality=params.materiality)
    found = previous_full_run(week, run_dir.parent.parent) if run_dir.parent.name == week else None
    previous_run = None
    if found is not None:
        tpl = params.email.report_url
        previous_run = {"week": found[0], "run_id": found[1].path.name,
                        "url": tpl.format(week=found[0], run_id=found[1].path.name, report="executive_summary")
                        if tpl else ""}
    return {"decisions": decisions, "first_screen": first, "previous_run": previous_run,
            "glossary": sm.glossary(sm.page_text(decisions, first, items, kpis, sym)),
            "scoreboard_note": sm.scoreboard_note(week, params.kpis.balance_basis), "week": week, "quarter": manifest.get("quarter", ""), "symbol": sym, "results": results, "records": recs,
            "statuses": statuses, "items": items, "headline": head, "changes": changes, "previous_week": prev_week,
            "kpis": kpis, "ok_sections": ok_sections, "company": manifest.get("company") or params.company.name,
            "as_of": manifest.get("data_as_of", ""), "run_id": manifest.get("run_id", ""),
            "generated": manifest.get("finished_at", ""),
            "subject": sm.subject(week, head, params.email.subject_prefix, decisions=len(decisions))}


def leadership_html(ctx: dict, *, cids: Mapping[str, str], links: Mapping[str, str], attached: Mapping[str, str],
                    attachment_note: str = "", max_kb: float = 100) -> str:
    """The HTML part (CSS inlined). ``cids``: chart name -> Content-ID without brackets.

    Raises EmailBuildError when the result would break in a mail client (see :func:`check_html`).
    """
    items = ctx["items"]
    rows = []
    for r in items.itertuples(index=False):  # the topic links to the report that proves it
        topic = f'<a href="{_e(links[r.report])}">{_e(r.topic)}</a>' if links.get(r.report) else _e(r.topic)
        rows.append(f'<tr><td class="light">{_chip(r.light)}</td><td><span class="topic">{topic}:</span> '
                    f'{_e(r.sentence)}</td></tr>')
    charts = "".join(
        f'<tr><td class="chart"><img src="cid:{_e(cid)}" width="600" alt="{_e(alt)}"></td></tr>'
        for name, (cid, alt) in cids.items())
    kpi_html = ""
    if len(ctx["kpis"]):
        shown = sm.kpi_display(ctx["kpis"])
        krows = "".join(
            f'<tr><td>{_e(kpi)}</td><td class="num">{_e(w)}</td><td class="num">{_e(t13)}</td>'
            f'<td class="num">{_e(target)}</td><td>{_chip(light)}</td></tr>'
            for kpi, w, t13, target, light in zip(shown["KPI"], shown["This week"], shown["13 weeks"], shown["Target"],
                                                   ctx["kpis"]["light"]))
        kpi_html = ('<tr><td class="section"><h2>Scoreboard</h2><table class="grid" role="presentation">'
                    '<tr><th>KPI</th><th class="num">This week</th><th class="num">13 weeks</th>'
                    f'<th class="num">Target</th><th>Status</th></tr>{krows}</table>'
                    f'<p class="more">{_e(ctx["scoreboard_note"])}</p></td></tr>')
    ch = ctx["changes"]
    if ch is None:  # the previous week's line below says there is nothing to compare with
        change_html = ""
    else:
        moved = ch[ch["changed"]]
        change_html = ('<ul class="list">' + "".join(f"<li>{_e(s)}</li>" for s in moved["sentence"]) + "</ul>"
                       if len(moved) else
                       f"<p>No tracked figure moved materially since {_e(ctx['previous_week'])}.</p>")
    reports = _e(sm.reports_line(ctx["statuses"]))
    if links:  # every report linked once, by its title
        titles = {"executive_summary": "Executive summary", **{r.notebook: r.title for r in sm.PACK}}
        reports += " " + " · ".join(f'<a href="{_e(u)}">{_e(titles.get(r, r))}</a>' for r, u in links.items())
    note = f"<p>{_e(attachment_note)}</p>" if attachment_note else ""
    decisions_html = "".join(
        f'<li><b>{_e(q)}</b><br>{_e(rest)}</li>' for q, rest in (sm.decision_sentence(d, ctx["symbol"])
                                                              for d in ctx["decisions"]))
    decisions_html = (f'<ol class="list">{decisions_html}</ol>' if decisions_html
                      else "<p>No decision is asked this week.</p>")
    lines_html = "".join(f'<p class="line"><b>{_e(k)}:</b> {_e(v)}</p>' for k, v in ctx["first_screen"])
    prev = ctx["previous_run"]
    if prev is None:
        previous_html = "Previous week: first week on record."
    elif prev["url"]:
        previous_html = f'Previous week: <a href="{_e(prev["url"])}">{_e(prev["week"])}</a>.'
    else:
        previous_html = f"Previous week: {_e(prev['week'])} (run {_e(prev['run_id'])})."
    glossary_html = ('<ul class="list">' + "".join(f"<li><b>{_e(t)}</b>: {_e(m)}</li>" for t, m in ctx["glossary"])
                     + "</ul>")
    first_q = sm.decision_sentence(ctx["decisions"][0], ctx["symbol"])[0] if ctx["decisions"] else ""
    preheader = _e(ctx["headline"] + ". " + first_q)[:300]
    # the first screen is the decisions: when and from which run the figures are goes to the footer
    meta = f"Data as of {_e(ctx['as_of'])}" if ctx["as_of"] else ""
    when = f" ({ctx['quarter']})" if ctx["quarter"] else ""
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="x-apple-disable-message-reformatting"><meta name="color-scheme" content="light">
<title>{_e(ctx['subject'])}</title><style>{EMAIL_CSS}</style></head>
<body>
<div class="preheader">{preheader}</div>
<table role="presentation" class="wrap" width="100%" cellpadding="0" cellspacing="0" border="0"><tr><td align="center">
<!--[if mso]><table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0"><tr><td><![endif]-->
<table role="presentation" class="container" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td class="header"><div class="company">{_e(ctx['company'])}</div>
<div class="title">S&amp;OE weekly pack · {_e(ctx['week'] + when)}</div><div class="meta">{meta}</div></td></tr>
<tr><td class="headline">{_e(ctx['headline'][:1].upper() + ctx['headline'][1:])}.</td></tr>
<tr><td class="section"><h2>Decisions</h2>{decisions_html}{lines_html}</td></tr>
{kpi_html}
<tr><td class="section"><h2>This week, in detail</h2>
<table role="presentation" class="items" width="100%" cellpadding="0" cellspacing="0" border="0">{''.join(rows)}</table>
</td></tr>
{charts}
<tr><td class="section"><h2>What changed since {_e(ctx['previous_week'])}</h2>{change_html}<p>{previous_html}</p></td></tr>
<tr><td class="section"><h2>Reports</h2><p class="line">{reports}</p>{note}</td></tr>
<tr><td class="section"><h2>Glossary</h2>{glossary_html}</td></tr>
<tr><td class="footer">Automated email from the S&amp;OE weekly pack of {_e(ctx['company'])}: figures from run
{_e(ctx['run_id'])} (generated {_e(ctx['generated'])}), data as of {_e(ctx['as_of'])}, amounts in the company currency. Act = needs a decision,
Watch = keep an eye on it, On track = within plan or target, Missing = the report did not run or failed
(its numbers are never carried over from an earlier week). Reply to reach the FP&amp;A team.</td></tr>
</table>
<!--[if mso]></td></tr></table><![endif]-->
</td></tr></table>
</body></html>"""
    out = inline_css(doc)
    problems = check_html(out, max_kb)
    if problems:
        raise EmailBuildError("the leadership email cannot be built: " + "; ".join(problems))
    return out


def _wrap(text: str, indent: str = "", first: str = "") -> str:
    return textwrap.fill(text, _WRAP, initial_indent=first or indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def leadership_text(ctx: dict, *, links: Mapping[str, str], attached: Mapping[str, str],
                    attachment_note: str = "") -> str:
    """The plain-text part: the same content as the HTML, wrapped at 76 columns."""
    lines = [f"{ctx['company']}",
             f"S&OE weekly pack · {ctx['week']}" + (f" ({ctx['quarter']})" if ctx["quarter"] else ""),
             f"Data as of {ctx['as_of']} · generated {ctx['generated']} · run {ctx['run_id']}", "",
             _wrap(ctx["headline"][:1].upper() + ctx["headline"][1:] + "."), "", "DECISIONS"]
    for i, d in enumerate(ctx["decisions"], 1):
        q, rest = sm.decision_sentence(d, ctx["symbol"])
        lines.append(_wrap(f"{q} {rest}", indent="    ", first=f"  {i}. "))
    if not ctx["decisions"]:
        lines.append("  No decision is asked this week.")
    lines += [_wrap(f"{k}: {v}", indent="    ", first="  ") for k, v in ctx["first_screen"]]
    if len(ctx["kpis"]):
        shown = sm.kpi_display(ctx["kpis"])
        lines += ["", "SCOREBOARD (this week / 13 weeks / target)"]
        for k, w, t13, target, light in zip(shown["KPI"], shown["This week"], shown["13 weeks"], shown["Target"],
                                            ctx["kpis"]["light"]):
            lines.append(_wrap(f"- {k}: {w} / {t13} / {target} [{sm.LIGHTS.get(light, sm.LIGHTS['grey'])[0]}]",
                               indent="    ", first="  "))
        lines.append(_wrap(ctx["scoreboard_note"], indent="  ", first="  "))
    lines += ["", "DETAIL"]
    last = sm.last_of_report(ctx["items"])
    for i, r in enumerate(ctx["items"].itertuples(index=False)):
        tag = f"[{sm.LIGHTS.get(r.light, sm.LIGHTS['grey'])[0].upper()}]"
        lines.append(_wrap(f"{tag} {r.topic}: {r.sentence}", indent="    ", first="  "))
        where = links.get(r.report, "") if last[i] else ""  # a link once per report; the attached pack: below
        if where:
            lines.append(_wrap(f"Full report: {where}", indent="    "))
    lines += ["", f"WHAT CHANGED SINCE {ctx['previous_week']}"]
    ch = ctx["changes"]
    if ch is not None:  # else the previous week's line below says there is nothing to compare with
        moved = ch[ch["changed"]]
        lines += [_wrap(s, indent="    ", first="  - ") for s in moved["sentence"]] or [
            f"  No tracked figure moved materially since {ctx['previous_week']}."]
    prev = ctx["previous_run"]
    lines += [_wrap("Previous week: " + ("first week on record." if prev is None else
                                        (prev["url"] or f"{prev['week']} (run {prev['run_id']}).")), "  ", "  ")]
    lines += ["", "REPORTS", _wrap(sm.reports_line(ctx["statuses"]), indent="  ", first="  ")]
    if attachment_note:
        lines += ["", _wrap(attachment_note)]
    lines += ["", "GLOSSARY"] + [_wrap(f"{t}: {m}", indent="    ", first="  - ") for t, m in ctx["glossary"]]
    lines += ["", _wrap(f"Automated email from the S&OE weekly pack of {ctx['company'].rstrip('.')}. "
                        "Act = needs a decision, "
                        "Watch = keep an eye on it, On track = within plan or target, Missing = the report did "
                        "not run or failed (its numbers are never carried over from an earlier week).")]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- building messages


def _addresses(values: Iterable[str]) -> str:
    return ", ".join(values)


def _domain(sender: str) -> str:
    addr = parseaddr(sender)[1]
    return addr.split("@", 1)[1] if "@" in addr else "soe.local"


def _base_message(params, subject_text: str, to: list[str], cc: list[str], week: str, run_id: str, kind: str,
                  now: dt.datetime | None) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = subject_text
    msg["From"] = params.email.sender
    if to:
        msg["To"] = _addresses(to)
    if cc:
        msg["Cc"] = _addresses(cc)
    if params.email.reply_to:
        msg["Reply-To"] = params.email.reply_to
    elif params.email.analysts and kind == "leadership":
        msg["Reply-To"] = _addresses(params.email.analysts)
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = make_msgid(idstring=f"soe.{week}.{kind}", domain=_domain(params.email.sender))
    msg["Auto-Submitted"] = "auto-generated"  # no out-of-office replies
    msg["X-SOE-Week"] = week
    msg["X-SOE-Run"] = run_id
    msg["X-SOE-Kind"] = kind
    return msg


def _report_links(params, week: str, run_id: str, reports: Iterable[str]) -> dict[str, str]:
    tpl = params.email.report_url
    if not tpl:
        return {}
    return {r: tpl.format(week=week, run_id=run_id, report=r) for r in reports}


@dataclass(frozen=True)
class LeadershipEmail:
    """The leadership email and what it did with the reports (for the manifest and the run folder).

    ``bundle``: the weekly pack page (attached, or written to the run folder only); ``reports``: a record:
    mode, bundle file and bytes, whether it is attached, the chart level used, and the note when left out.
    """

    message: EmailMessage
    bundle: str | None
    reports: dict


def _bundle_reports(run_dir: Path, published: list[str]) -> list[bd.BundleReport]:
    titles = {"executive_summary": "Executive summary", **{r.notebook: r.title for r in sm.PACK}}
    return [bd.read_report(run_dir / f"{r}.html", titles.get(r)) for r in published]


def _email_charts(run_dir: Path, ctx: dict, domain: str) -> dict[str, tuple[str, str, bytes]]:
    """name -> (Content-ID, alt text, PNG) of the email's charts, drawn for the email's width
    (:data:`soe_helpers.report.chart_text.EMAIL`: every text >= 11 px on a 390 px phone)."""
    charts: dict[str, tuple[str, str, bytes]] = {}
    fig = sm.landing_chart(ctx["records"].demand_reconciliation, ctx["symbol"], EMAIL_CHART)
    if fig is not None:
        charts["landing"] = (make_msgid("landing", domain=domain)[1:-1], "Quarter revenue: projected landing vs plan",
                             sm.figure_png(fig, EMAIL_CHART))
    if ctx["records"].cash_impact is not None:
        fig = sm.cash_chart(sm.read_artifact(run_dir, "cash_forecast_13w.csv"),
                            sm._num(ctx["records"].cash_impact.min_cash), ctx["symbol"], fmt=EMAIL_CHART)
        if fig is not None:
            charts["cash"] = (make_msgid("cash", domain=domain)[1:-1], "Closing cash over the next 13 weeks",
                              sm.figure_png(fig, EMAIL_CHART))
    return charts


def _kb(n: int) -> str:
    return f"{n / 1024:,.0f} KB"


def compose_leadership_email(run_dir: str | Path, manifest: dict, params, *,
                             previous: Mapping[str, dict] | None = None,
                             owners: Mapping[str, str] | None = None,
                             now: dt.datetime | None = None) -> LeadershipEmail:
    """The leadership email of a good run, the weekly pack bundle, and what was done with the reports.

    See :func:`build_leadership_email` for the arguments. With ``email.reports: bundle`` the bundle is
    attached at the first level of :data:`soe_helpers.deliver.bundle.LEVELS` whose message fits
    ``email.max_email_kb``; when none fits, nothing is attached and the email says why and where the reports
    are (the links, or the FP&A team: the run folder is an internal path and is never printed).
    """
    run_dir = Path(run_dir)
    ctx = _context(run_dir, manifest, params, previous, owners)
    week, run_id = ctx["week"], ctx["run_id"]
    published = ["executive_summary"] + [r.notebook for r in sm.PACK]
    published = [r for r in published if (run_dir / f"{r}.html").is_file()
                 and (r == "executive_summary" or ctx["statuses"].get(r, {}).get("status") == "ok")]
    mode = params.email.reports
    links = _report_links(params, week, run_id, published) if mode != "none" else {}
    charts = _email_charts(run_dir, ctx, _domain(params.email.sender))
    limit = params.email.max_email_kb * 1024
    name = run_folder.bundle_name(week)
    reports = _bundle_reports(run_dir, published) if published else []
    header = {"company": ctx["company"], "week": week, "quarter": ctx["quarter"], "as_of": ctx["as_of"],
              "generated": ctx["generated"], "run_id": run_id}

    def compose(attached: Mapping[str, str], note: str, bundle: str | None) -> EmailMessage:
        return _leadership_message(ctx, params, charts, links, attached, note, now,
                                   (name, bundle) if bundle is not None else None)

    record: dict = {"mode": mode, "bundle": name if reports else None, "attached": False}
    page = None
    if mode == "bundle" and reports:
        attached = {r: name for r in published}
        for level in bd.LEVELS:
            page = bd.bundle_html(reports, header, level=level, links=links)
            note = (f"Every report of this run is attached as one page, {name} ({_kb(len(page.encode()))}): "
                    "open it in your browser or mail app; its contents link to each report.")
            msg = compose(attached, note, page)
            size = len(msg.as_bytes(policy=policy.SMTP))
            if size <= limit:
                record.update(attached=True, bundle_bytes=len(page.encode()),
                              level={"scale": level.scale, "colors": level.colors})
                return LeadershipEmail(msg, page, record)
        where = "use the links above" if links else "ask the FP&A team for them (reply to this email)"
        note = (f"The reports are not attached: as one page ({_kb(len(page.encode()))}) they would take this email "
                f"above its {params.email.max_email_kb:,} KB limit; {where}.")
        record.update(note=note, bundle_bytes=len(page.encode()))
        page = bd.bundle_html(reports, header, level=bd.LEVELS[0], links=links)  # the run folder's copy: best look
    else:
        note = ("" if links or not reports else
                "The full reports are not sent by email: ask the FP&A team for them (reply to this email).")
        page = bd.bundle_html(reports, header, level=bd.LEVELS[0], links=links) if reports else None
        if page is not None:
            record["bundle_bytes"] = len(page.encode())
    msg = compose({}, note, None)
    size = len(msg.as_bytes(policy=policy.SMTP))
    if size > limit:
        raise EmailBuildError(f"the leadership email is {_kb(size)} without attachments, above email.max_email_kb = "
                              f"{params.email.max_email_kb:,} KB")
    return LeadershipEmail(msg, page, record)


def _leadership_message(ctx: dict, params, charts: Mapping[str, tuple[str, str, bytes]], links: Mapping[str, str],
                        attached: Mapping[str, str], note: str, now: dt.datetime | None,
                        bundle: tuple[str, str] | None) -> EmailMessage:
    """The MIME message: text, HTML with its inline charts, and the bundle (name, page) when given."""
    body_html = leadership_html(ctx, cids={k: (v[0], v[1]) for k, v in charts.items()}, links=links, attached=attached,
                                attachment_note=note, max_kb=params.email.max_html_kb)
    body_text = leadership_text(ctx, links=links, attached=attached, attachment_note=note)
    cc = list(params.email.analysts) if params.email.copy_analysts else []
    msg = _base_message(params, ctx["subject"], list(params.email.leadership), cc, ctx["week"], ctx["run_id"],
                        "leadership", now)
    msg.set_content(body_text, subtype="plain", charset="utf-8")
    msg.add_alternative(body_html, subtype="html", charset="utf-8")
    html_node = msg.get_payload()[1]
    for name, (cid, _alt, png) in charts.items():
        html_node.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{name}.png",
                              disposition="inline")
    if bundle is not None:
        # quoted-printable: the page is ASCII but for a few characters, so it travels at ~1.03x its size
        # (base64 would add a third, and its charts are base64 already)
        msg.add_attachment(bundle[1], subtype="html", charset="utf-8", cte="quoted-printable", filename=bundle[0])
    return msg


def build_leadership_email(run_dir: str | Path, manifest: dict, params, *,
                           previous: Mapping[str, dict] | None = None,
                           owners: Mapping[str, str] | None = None,
                           now: dt.datetime | None = None) -> EmailMessage:
    """The leadership email of a good run (see the module docstring for its structure).

    Args:
        run_dir: the run folder (its ``results/``, published HTML reports and artifacts are read).
        manifest: the run's manifest (week, run_id, per-notebook status ...).
        params: the run's Params (email settings, materiality, summary rules).
        previous: the previous week's recorded figures (``Store.results_for``), for "what changed".
        owners: optional issue key -> owner, named beside variances and events.
        now: the Date header (default: now, UTC).
    Raises:
        EmailBuildError when the HTML would exceed ``email.max_html_kb``, the message without attachments
        ``email.max_email_kb``, or the HTML contains unsafe markup.
    """
    return compose_leadership_email(run_dir, manifest, params, previous=previous, owners=owners, now=now).message


def build_failure_notice(manifest: dict, params, *, reason: str = "", expected: Iterable[str] | None = None,
                         run_dir: str | Path | None = None, now: dt.datetime | None = None,
                         secrets: Iterable[str] | None = None) -> EmailMessage:
    """Plain-text notice to the analysts only: what failed or did not run, and what to do. No figures.

    Args:
        manifest: the run's manifest (statuses and errors are read from it).
        reason: an extra reason (e.g. the leadership email could not be built).
        expected: the pack's notebooks; those absent from the run are listed as not run.
        secrets: values to redact (default: :func:`secret_values` of the environment).
    """
    secrets = list(secret_values(params)) if secrets is None else list(secrets)
    week, run_id = manifest.get("week", "?"), manifest.get("run_id", "?")
    nbs = manifest.get("notebooks", [])
    failed = [n for n in nbs if not run_folder.counts_as_done(n)]
    ok = [n["name"] for n in nbs if n.get("status") == "ok"]
    by_design = [n for n in nbs if n.get("status") == run_folder.NOT_RUN]
    missing = sorted(set(expected or []) - {n["name"] for n in nbs})
    what = "FAILED" if failed or manifest.get("status") != "ok" or reason else "partial run"
    subject_text = sm.subject(week, f"{'weekly run FAILED' if what == 'FAILED' else 'partial run'}, "
                                    "not sent to leadership", params.email.subject_prefix)
    lines = [_wrap(f"The S&OE weekly run of {week} for {manifest.get('company') or params.company.name} "
                   f"{'did not complete' if what == 'FAILED' else 'did not run every report'}, so nothing was sent "
                   "to leadership. This notice goes to the analysts only and carries no figures."), "",
             f"Run:        {run_id} ({manifest.get('status', '?')})",
             f"Started:    {manifest.get('started_at', '?')}", f"Finished:   {manifest.get('finished_at', '?')}"]
    if run_dir:
        lines.append(f"Run folder: {run_dir}")
    if failed:
        lines += ["", "Failed:"]
        for n in failed:
            lines.append(_wrap(f"{n['name']}: {redact(n.get('error') or 'no error recorded', secrets)}",
                               indent="      ", first="  - "))
            if n.get("ipynb"):
                lines.append(f"      executed notebook with the error: {n['ipynb']}")
    if reason:
        lines += ["", _wrap(redact(reason, secrets))]
    if missing:
        lines += ["", _wrap("Not part of this run: " + ", ".join(missing) + ".")]
    if by_design:
        lines += ["", _wrap("Not run by design: " + "; ".join(f"{n['name']} ({n.get('reason')})" for n in by_design)
                            + ".")]
    if ok:
        lines += ["", _wrap("Succeeded: " + ", ".join(ok) + ".")]
    lines += ["", _wrap(f"What to do: open the executed notebook named above, fix the cause and run the whole pack "
                        f"again with `soe run --week {week}`. A run in which every report succeeds builds the "
                        f"leadership email; deliver it with `soe send --week {week}`."), ""]
    msg = _base_message(params, subject_text, list(params.email.analysts), [], week, run_id, "failure_notice", now)
    msg.set_content("\n".join(lines), subtype="plain", charset="utf-8")
    return msg


def html_part(msg: EmailMessage) -> str | None:
    """The decoded text/html body of a message (None when it has none)."""
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else None


def _write(msg: EmailMessage, path: Path) -> int:
    data = msg.as_bytes(policy=policy.SMTP)
    write_atomic(path, data)
    return len(data)


def build_run_email(run_dir: str | Path, manifest: dict, params, *, expected: Iterable[str] | None = None,
                    previous: Mapping[str, dict] | None = None, now: dt.datetime | None = None) -> dict:
    """Write the run's email into ``run_dir/email/``: the leadership email or the analysts' failure notice.

    The leadership email is written only when the run is ``ok`` and every notebook in
    ``expected`` (default: every notebook of the pack found in the run) ran and succeeded;
    otherwise ``failure_notice.eml``. When the leadership email itself cannot be built,
    a failure notice saying why is written and the returned record carries ``error``
    (the runner then marks the run failed).

    Args:
        previous: the previous week's figures; default read from the store (``Store.results_for``).
    Returns:
        A record for the manifest: kind, file (relative to run_dir), subject, to, cc, bytes,
        html_bytes, attachments, and error when the leadership email failed.
    """
    run_dir = Path(run_dir)
    nbs = manifest.get("notebooks", [])
    expected = list(expected) if expected is not None else [n["name"] for n in nbs]
    ran_ok = {n["name"] for n in nbs if run_folder.counts_as_done(n)}  # "not run" by design: the pack is complete
    complete = manifest.get("status") == "ok" and set(expected) <= ran_ok
    out = run_dir / EMAIL_DIRNAME
    error = None
    if complete:
        try:
            if previous is None:
                previous = _previous_results(params, manifest["week"])
            owners = _owners(run_dir)
            built = compose_leadership_email(run_dir, manifest, params, previous=previous, owners=owners, now=now)
            if built.bundle is not None:  # useful on its own: the whole pack in one page, beside the reports
                write_atomic(run_folder.bundle_path(run_dir, manifest["week"]), built.bundle)
            size = _write(built.message, out / "leadership.eml")
            return {**_record(built.message, out / "leadership.eml", run_dir, size), "reports": built.reports}
        except Exception as e:  # noqa: BLE001 - reported to the analysts and in the manifest
            error = f"the leadership email could not be built: {type(e).__name__}: {e}"
    notice = build_failure_notice(manifest, params, reason=error or "", expected=expected, run_dir=run_dir, now=now)
    size = _write(notice, out / "failure_notice.eml")
    rec = _record(notice, out / "failure_notice.eml", run_dir, size)
    if error:
        rec["error"] = redact(error, secret_values(params))
    return rec


def _record(msg: EmailMessage, path: Path, run_dir: Path, size: int) -> dict:
    h = html_part(msg)
    return {
        "kind": msg["X-SOE-Kind"],
        "file": str(path.relative_to(run_dir)),
        "subject": str(msg["Subject"]),
        "to": [a for _, a in getaddresses([str(msg.get("To", ""))]) if a],
        "cc": [a for _, a in getaddresses([str(msg.get("Cc", ""))]) if a],
        "bytes": size,
        "html_bytes": len(h.encode("utf-8")) if h else 0,
        "attachments": [p.get_filename() for p in msg.iter_attachments() if p.get_filename()],
    }


def _previous_results(params, week: str) -> dict:
    """The previous week's recorded figures from the store ({} when none or the store is unreachable)."""
    from soe_helpers.store.engine import open_store  # SQLAlchemy only when the previous week is read

    try:
        return open_store(params).results_for(week_add(week, -1))
    except Exception:  # noqa: BLE001 - "what changed" is then reported as unavailable, never guessed
        return {}


def _owners(run_dir: Path) -> dict[str, str]:
    """Issue key -> owner from the action tracker's export of this run, when there is one."""
    return sm.issue_owners(run_dir)
