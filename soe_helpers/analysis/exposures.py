"""One exposure per root cause: the signals of every report about the same thing, counted once.

The action tracker's proposals (:func:`soe_helpers.analysis.actions.propose`) come from four reports and
overlap: the same order is a production delay and an order at risk; a SKU's shortfall is part of its product
line's; the region cut of the quarter's shortfall is the same dollars as the product-line cut; OTIF by value
adds up late deliveries over 13 weeks. This module groups them (:func:`exposures`):

- **role**: ``risk`` (counts in dollars at stake), ``opportunity`` (a favourable variance: orders or shipments
  ahead of plan or forecast; listed apart, never escalated as a risk) or ``measure`` (a KPI off target: a
  rate over many weeks, shown with its dollars but not added to them, since its causes are exposures of
  their own).
- **root**: what the signal is about. An order line for production delays and orders at risk
  (``order:SO-500000/1``), a supplier for a supplier delay, a SKU for a demand spike, a data check for a
  data mismatch, and for variances the product line (a SKU's variance rolls up into its line: ``line:
  Controllers``). Region variances cut the same shortfall another way: they add only what the product-line
  roots of the same measure do not already hold (``region cut``).
- An exposure's dollars at stake are the largest of its evidence (the signals describe the same dollars),
  and the total at stake adds distinct exposures only.

Every exposure states its **measure**: revenue (shipments or orders vs plan, forecast or run-rate), cash and
P&L (a disruption), or data (a mismatch between systems).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

__all__ = ["EXPOSURE_COLUMNS", "classify", "exposures", "Exposures", "is_opportunity"]

EXPOSURE_COLUMNS = ["exposure_id", "role", "root", "measure", "title", "dollars_at_stake", "evidence", "issue_keys",
                    "product_line", "region", "sku", "owner"]

_ORDER_EVENTS = ("production_delay", "order_at_risk")


def _variance_kind(issue_key: str) -> str:
    # variance:<kind>:<level>:<key>
    parts = str(issue_key).split(":")
    return parts[1] if len(parts) > 2 else "variance"


def _measure(r: dict) -> str:
    st = r.get("source_type")
    if st == "variance":
        kind = _variance_kind(r["issue_key"])
        return {"orders_vs_forecast": "revenue: orders vs forecast", "shipments_vs_run_rate":
                "revenue: shipments vs run-rate"}.get(kind, "revenue: shipments vs plan")
    if st == "event":
        return "cash and P&L"
    if st == "data_accuracy":
        return "data: a mismatch between systems"
    return "measure: " + str(r.get("type") or "KPI")


def _root(r: dict) -> str:
    st, key = r.get("source_type"), str(r.get("issue_key"))
    if st == "event":
        m = re.match(r"^event:([a-z_]+):(.+)$", key)
        typ, ref = (m.group(1), m.group(2)) if m else ("event", key)
        if typ in _ORDER_EVENTS and not ref.startswith("sku="):
            return f"order:{ref}"
        if typ == "supplier_delay":
            return f"supplier:{ref}"
        return f"{typ}:{ref}"
    if st == "variance":
        kind, level = _variance_kind(key), key.split(":")[2] if key.count(":") >= 3 else ""
        if level in ("product_line", "sku") and r.get("product_line"):
            return f"{kind}:line:{r['product_line']}"
        if level == "region":
            return f"{kind}:region cut"
        return f"{kind}:{level}:{key.split(':', 3)[-1]}"
    return key


def is_opportunity(source_type, title) -> bool:
    """Good news: a variance whose title says orders or shipments are *ahead of* plan, forecast or run-rate.

    The one rule for "opportunity": exposures list it apart and the tracker never escalates it."""
    return source_type == "variance" and " ahead of " in f" {title or ''} "


def classify(proposals: pd.DataFrame) -> pd.DataFrame:
    """``proposals`` with ``role`` (risk / opportunity / measure), ``root`` and ``measure`` (see the module)."""
    rows = []
    for r in proposals.to_dict("records"):
        if r.get("source_type") == "kpi":
            role = "measure"
        elif is_opportunity(r.get("source_type"), r.get("title")):
            role = "opportunity"
        else:
            role = "risk"
        rows.append({"role": role, "root": _root(r), "measure": _measure(r)})
    return proposals.reset_index(drop=True).join(pd.DataFrame(rows, columns=["role", "root", "measure"]))


@dataclass
class Exposures:
    risks: pd.DataFrame          # one row per root cause (EXPOSURE_COLUMNS), largest first
    opportunities: pd.DataFrame  # favourable variances, one row per root
    measures: pd.DataFrame       # KPIs off target (not added to dollars at stake)
    at_stake_total: float        # the sum of the distinct risks' dollars at stake

    def exposure_of(self) -> dict[str, str]:
        """issue_key -> exposure_id for every proposal grouped here."""
        out = {}
        for df in (self.risks, self.opportunities, self.measures):
            for eid, keys in zip(df["exposure_id"], df["issue_keys"]):
                out.update({k: eid for k in keys})
        return out


def _group(c: pd.DataFrame, prefix: str) -> pd.DataFrame:
    rows = []
    for root, g in c.groupby("root", sort=False):
        g = g.sort_values("dollars_at_stake", ascending=False, kind="stable")
        top = g.iloc[0]
        rows.append({
            "root": root, "measure": top["measure"], "title": top["title"],
            "dollars_at_stake": float(g["dollars_at_stake"].abs().max()),
            "evidence": [f"{s}: {t}" for s, t in zip(g["source"], g["title"])], "issue_keys": g["issue_key"].tolist(),
            "product_line": top.get("product_line"), "region": top.get("region"), "sku": top.get("sku"),
            "owner": top.get("owner"), "role": top["role"],
        })
    out = pd.DataFrame(rows, columns=[c for c in EXPOSURE_COLUMNS if c != "exposure_id"])
    out = out.sort_values(["dollars_at_stake", "root"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out.insert(0, "exposure_id", [f"{prefix}-{i + 1:02d}" for i in range(len(out))])
    return out


def exposures(proposals: pd.DataFrame) -> Exposures:
    """Group the tracker's proposals into exposures, one per root cause (see the module docstring)."""
    c = classify(proposals)
    risk = c[c["role"] == "risk"].copy()
    # a region cut adds only what the product-line roots of the same measure do not already hold
    for kind in {r.split(":")[0] for r in risk["root"] if r.endswith(":region cut")}:
        lines = risk[risk["root"].str.startswith(f"{kind}:line:")]
        by_line = lines.groupby("root")["dollars_at_stake"].max().sum()
        cut = risk["root"] == f"{kind}:region cut"
        extra = max(0.0, float(risk.loc[cut, "dollars_at_stake"].sum()) - float(by_line))
        if extra <= 0:                 # wholly inside the product-line exposures: a cut of the same dollars
            c.loc[risk.index[cut], ["role", "measure"]] = ["measure", "revenue: the region cut of the same shortfall"]
            risk = risk[~cut]
        else:
            idx = risk.index[cut]
            risk.loc[idx, "dollars_at_stake"] = 0.0
            risk.loc[idx[0], "dollars_at_stake"] = extra
    risks = _group(risk, "E")
    return Exposures(risks=risks, opportunities=_group(c[c["role"] == "opportunity"], "O"),
                     measures=_group(c[c["role"] == "measure"], "M"),
                     at_stake_total=float(risks["dollars_at_stake"].sum()))
