"""One definition per measure: DSO, DIO and DPO, each with the basis and period it was taken on.

The execution KPIs (a trailing 13-week average) and the cash report (the balance at the week's end over
the next 13 weeks' forecast) both quote days of working capital. They measure over different periods
and flows, so their numbers differ; what they never do is define the measure differently or print it
unlabelled. Every report computes the days here and prints :attr:`Measure.label` with the number:

- **DSO** = AR / revenue x days (revenue: invoiced sales by invoice date, shipped sales or forecast sales);
- **DIO** = inventory / COGS x days (COGS at standard cost);
- **DPO** = AP / COGS x days (the textbook form: payables over cost of sales);
- **CCC** = DIO + DSO - DPO.

Each is NaN where its divisor is not positive. Days, in calendar days; lower is better except DPO.

>>> dso(120.0, 273.0, 91, period="13-week average to 2026-W47", basis="on invoiced sales").label
'DSO 40 days (13-week average to 2026-W47, on invoiced sales)'
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Measure", "days_outstanding", "dso", "dio", "dpo", "ccc", "period_label", "REVENUE_BASIS",
           "COGS_BASIS", "kpi_basis", "horizon", "wape_change_label"]

#: revenue basis -> words (``kpis.dso_revenue``; "forecast" for the cash report's forward view)
REVENUE_BASIS = {"invoiced": "on invoiced sales", "shipped": "on shipped sales",
                 "forecast": "on forecast sales"}
#: DIO's and DPO's flow
COGS_BASIS = "on COGS at standard cost"


@dataclass(frozen=True)
class Measure:
    """A measure's value with what it was measured on: ``name`` (DSO), ``value`` (days), ``period``
    ("13-week average to 2026-W47"), ``basis`` ("on invoiced sales")."""

    name: str
    value: float
    period: str
    basis: str
    unit: str = "days"

    @property
    def known(self) -> bool:
        """Whether the measure has a value (False when its inputs are not provided or its flow is zero)."""
        return self.value is not None and not math.isnan(self.value)

    @property
    def label(self) -> str:
        """'DSO 46 days (13-week average to 2026-W47, on invoiced sales)'; '–' for a value not known."""
        v = "–" if self.value is None or math.isnan(self.value) else f"{self.value:.0f}"
        return f"{self.name} {v} {self.unit} ({self.period}, {self.basis})"

    @property
    def basis_text(self) -> str:
        """'13-week average to 2026-W47, on invoiced sales': the label's words without the number."""
        return f"{self.period}, {self.basis}"


def days_outstanding(balance: float, flow: float, days: float) -> float:
    """The one formula of DSO, DIO and DPO: ``balance`` / ``flow`` of the period x its ``days``; NaN when the
    flow is not positive or the balance is not known."""
    b, f = float(balance), float(flow)
    return b / f * float(days) if f > 0 and not math.isnan(b) else float("nan")


def dso(ar: float, revenue: float, days: float, *, period: str, basis: str = REVENUE_BASIS["invoiced"]) -> Measure:
    """Days sales outstanding: ``ar`` / ``revenue`` of the ``days`` x ``days`` (currency in, days out)."""
    return Measure("DSO", days_outstanding(ar, revenue, days), period, basis)


def dio(inventory: float, cogs: float, days: float, *, period: str, basis: str = COGS_BASIS) -> Measure:
    """Days inventory outstanding: ``inventory`` / ``cogs`` of the ``days`` x ``days``."""
    return Measure("DIO", days_outstanding(inventory, cogs, days), period, basis)


def dpo(ap: float, cogs: float, days: float, *, period: str, basis: str = COGS_BASIS) -> Measure:
    """Days payables outstanding: ``ap`` / ``cogs`` of the ``days`` x ``days``."""
    return Measure("DPO", days_outstanding(ap, cogs, days), period, basis)


def ccc(dso_: Measure, dio_: Measure, dpo_: Measure) -> Measure:
    """Cash conversion cycle DIO + DSO - DPO, on the period of its parts (which must share one)."""
    if len({dso_.period, dio_.period, dpo_.period}) != 1:
        raise ValueError(f"cash conversion cycle: DSO, DIO and DPO are on different periods "
                         f"({dso_.period!r}, {dio_.period!r}, {dpo_.period!r})")
    return Measure("Cash conversion cycle", dio_.value + dso_.value - dpo_.value, dso_.period,
                   f"DIO + DSO - DPO, DSO {dso_.basis}")


def period_label(period: str, week: str, balance_basis: str = "average", *, quarter: str | None = None,
                 weeks: int | None = None) -> str:
    """The words of a measurement period: ``("13w", "2026-W47")`` -> '13-week average to 2026-W47';
    ``("week", ...)`` -> 'week 2026-W47 average'; ``("quarter", ..., quarter="2026-Q4")`` -> '2026-Q4 to date
    average, to 2026-W47'; ``("now", ...)`` -> 'balance at the end of 2026-W47'. With ``balance_basis``
    "ending" the balances are the period's last: '13 weeks to 2026-W47, ending balances'."""
    avg = balance_basis == "average"
    if period == "now":
        return f"balance at the end of {week}"
    if period == "13w":
        n = weeks or 13
        return f"{n}-week average to {week}" if avg else f"{n} weeks to {week}, ending balances"
    if period == "quarter":
        q = quarter or "quarter"
        return f"{q} to date average, to {week}" if avg else f"{q} to date to {week}, ending balances"
    if period == "week":
        return f"week {week} average" if avg else f"week {week}, ending balances"
    raise ValueError(f"period {period!r}: expected now, week, 13w or quarter")


def kpi_basis(kpi: str, dso_revenue: str = "invoiced") -> str:
    """What a KPI of the execution report is measured on, in words ('' for one without a basis to state):
    ``kpi_basis("dso")`` -> 'on invoiced sales' (``params.kpis.dso_revenue``), ``"dpo"`` -> 'on COGS at standard
    cost', ``"otif_value"`` -> 'share of value due'. The scoreboard prints it beside the KPI's name."""
    return {"dso": REVENUE_BASIS[dso_revenue], "dio": COGS_BASIS, "dpo": COGS_BASIS, "ccc": "DIO + DSO - DPO",
            "otif_value": "share of value due", "otif": "share of lines due",
            "inventory_turns": "COGS over inventory", "gross_margin_pct": "at standard cost",
            "gross_margin": "at standard cost"}.get(kpi, "")


def horizon(lag: int) -> str:
    """How far ahead a forecast was made, in words for leadership: ``1`` -> 'one week out', ``4`` -> '4 weeks out'
    (the analysts' reports say lag 1, lag 4)."""
    return "one week out" if int(lag) == 1 else f"{int(lag)} weeks out"


def wape_change_label(raw: float, corrected: float, *, scope: str, grain: str, window: tuple[str, str]) -> str:
    """The one way a forecast-error change is quoted: both WAPEs, the relative change, and what was measured.

    ``wape_change_label(0.575, 0.572, scope="all lines", grain="SKU", window=("2026-W22", "2026-W47"))`` ->
    'WAPE 57.5% -> 57.2% (0.5% lower; all lines, SKU forecasts, backtest 2026-W22 to 2026-W47)'.
    WAPE = sum |forecast - actual| / sum actual (a share); the change is (raw - corrected) / raw.
    """
    def pct(x):
        return "–" if x is None or not math.isfinite(x) else f"{x * 100:.1f}%"

    what = f"{scope}, {grain} forecasts, backtest {window[0]} to {window[1]}"
    if raw is None or corrected is None or not (math.isfinite(raw) and math.isfinite(corrected)):
        return f"WAPE {pct(raw)} -> {pct(corrected)} ({what})"
    if raw > 0 and corrected != raw:
        rel = abs(raw - corrected) / raw
        how = f"{rel * 100:.1f}% {'lower' if corrected < raw else 'higher'}; "
    else:
        how = "unchanged; " if corrected == raw else ""
    return f"WAPE {pct(raw)} -> {pct(corrected)} ({how}{what})"
