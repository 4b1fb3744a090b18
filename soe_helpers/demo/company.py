"""Demo data: the system exports of "Kestrel Components Inc.", a made-up mid-market
manufacturer/distributor of industrial components, for trying the S&OE suite end to end.

:func:`generate` writes, into one folder, files shaped like real exports from the
company's ERP, CRM, MRP, S&OP and treasury tools (their own column headers, a
Windows-1252 CRM file, an Excel "CSV UTF-8" AR file with thousands separators, an
S&OP plan workbook). The company's params map these headers onto the canonical
tables of :mod:`soe_helpers.data.schemas`.

The company
-----------
- 5 product lines (Sensors, Controllers, Enclosures, Cables & Harnesses, Power
  Supplies), 150 SKUs (``SEN-1001`` .. ``PWR-5030``), a few new or discontinued.
- 300 customers (``C-0001`` ..) in Americas, EMEA and APAC with Pareto-like revenue
  concentration, 30/45/60-day terms, a late-delivery penalty clause for ~15% of
  them and ~10% chronic late payers.
- 60 suppliers (``S-001`` ..) with 14-70 day lead times; each SKU has a primary one.
- Sales history from Monday 2024-09-30 (2024-W40) to Sunday 2026-11-22 (the as-of
  date, end of 2026-W47): weekly demand = base x trend (+8%/year) x seasonality
  (Q4 bump, summer dip, year-end shutdown) x noise, ~48K order lines at scale 1.
  Order lines ship mostly on time (OTIF ~88%), some late or in two parts; shipments
  are invoiced and paid per customer behaviour; replenishment POs follow an
  order-up-to policy on the (biased) forecast, are received and billed; weekly
  on-hand inventory by SKU for two warehouses (DAL, RTM).
- Every weekly forecast version (lags 1..13) since 2024-W40, and the approved S&OP
  plan for every quarter 2024-Q4 .. 2026-Q4 (ISO quarters), plus treasury items.

Planted events (current quarter 2026-Q4), written to ``planted_events.json``
--------------------------------------------------------------------------
1. ``supplier_delay``: supplier ``S-017``'s open POs are expected 21 days after
   their promised date; its SKUs' inventory runs low and they have open customer
   orders due in the next 3 weeks.
2. ``demand_spike``: ``SEN-1007`` orders run ~25-30% above the lag-1 forecast in
   2026-W44..W47 (quarter-to-date more than 10% above forecast and plan).
3. ``production_delay``: order ``SO-500000`` (2,000 x $250 = $500K of a Power
   Supplies SKU, for a customer with a late-delivery penalty) promised 2026-11-20,
   not shipped, rescheduled to 2026-12-04.
4. ``forecast_bias``: Controllers are forecast (and so planned) ~15% too high, so
   their quarter-to-date revenue is well below plan.

How the story is kept clean: each product line's order intake is calibrated (by a
line-level quantity factor, before the current quarter and over the weeks that ship
in it) to the expected demand, so SKU-week noise stays but no line drifts off its
forecast except the planted ones; S-017's SKUs also had short receipts in
2026-W41..W45 sized so that they end 2026-W47 with under ~1 week of cover.

Everything is drawn from numpy Generators seeded by ``seed`` (one child generator
per part): the same seed and scale give byte-identical files, the workbook
included. ``scale`` multiplies the demand (order lines, forecasts, plan,
purchasing, inventory, credit limits and treasury amounts) while the SKUs,
customers, suppliers and the planted order stay the same; below ~0.2 the planted
events get too thin to be reliable. Generation is vectorised (the only loops are
over weeks, SKUs or masters); writing the plan workbook with openpyxl takes most
of the ~4 s at scale 1; scale 25 (~1.2M order lines) takes ~20 s and ~0.6 GB.

Example:
    >>> from soe_helpers.demo.company import generate
    >>> summary = generate("data/demo")          # doctest: +SKIP
    >>> summary["rows"]["erp_sales_order_lines.csv"]  # doctest: +SKIP
    49201
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from soe_helpers.core.calendar import FiscalCalendar, from_ordinal, week_diff, week_ordinal, week_start
from soe_helpers.demo.overlaps import add_overlaps

__all__ = ["generate"]

# --------------------------------------------------------------------------- constants
COMPANY = "Kestrel Components Inc."
AS_OF = pd.Timestamp("2026-11-22")
START = "2024-W40"
END = "2026-W47"
CURRENT_QUARTER = "2026-Q4"
PLAN_QUARTERS = ("2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4",
                 "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
DEFAULT_SEED = 20261122

START_DATE = week_start(START)                      # Monday 2024-09-30 = day 0
AS_OF_DAY = int((AS_OF - START_DATE).days)          # 783 (a Sunday)
N_WEEKS = week_diff(END, START) + 1                 # 112 weeks of history
N_LAGS = 13                                         # forecast lags written
MAX_LAG = 14                                        # a 14-week quarter needs lag 14
W_LO, W_HI = -16, N_WEEKS + 24                      # week grid of the demand model
DAY_LO, DAY_HI = W_LO * 7, (N_WEEKS + 80) * 7       # day range of the date labels
NA_DAY = -(10**9)                                   # "no date"

LINES = ("Sensors", "Controllers", "Enclosures", "Cables & Harnesses", "Power Supplies")
LINE_PREFIX = ("SEN", "CTL", "ENC", "CAB", "PWR")
SKUS_PER_LINE = 30
LINE_REVENUE_SHARE = (0.20, 0.27, 0.16, 0.13, 0.24)
LINE_PRICE_RANGE = ((15, 180), (120, 900), (40, 450), (15, 120), (60, 600))
LINE_COST_SHARE = ((0.50, 0.65), (0.45, 0.60), (0.55, 0.70), (0.55, 0.70), (0.50, 0.65))
CONTROLLERS_BIAS = 0.15
N_CUSTOMERS = 300
REGIONS = ("Americas", "EMEA", "APAC")
REGION_COUNTS = (135, 105, 60)
SEGMENTS = ("OEM", "Distributor", "Direct")
N_SUPPLIERS = 60
WAREHOUSES = ("DAL", "RTM")
STATUSES = ("open", "closed", "cancelled")
OPEN, CLOSED, CANCELLED = 0, 1, 2

TARGET_LINES = 48_000                   # order lines over the history at scale 1
TARGET_Q4_PLAN_REVENUE = 10_000_000.0   # 2026-Q4 plan revenue at scale 1
TREND_PER_YEAR = 0.08
P_CANCEL = 0.015                        # share of order lines cancelled (never shipped)
ETA_SIGMA = 0.15                        # weekly demand shocks per SKU (lognormal sigma)
NB_SHAPE = 1.5                          # order-line size dispersion (negative binomial shape)
OPENING_CASH = 4_512_340.17

# planted events
DELAYED_SUPPLIER = "S-017"
SUPPLIER_DELAY_DAYS = 21
DELAY_FROM = pd.Timestamp("2026-11-02")       # S-017 POs promised from here on slip
SPIKE_SKU = "SEN-1007"
SPIKE_WEEKS = ("2026-W44", "2026-W45", "2026-W46", "2026-W47")
SPIKE_MIN_RATIO = 1.27                        # orders / lag-1 forecast in the spike weeks
BIG_ORDER_ID = "SO-500000"
BIG_ORDER_SKU = "PWR-5004"
BIG_ORDER_QTY = 2000
BIG_ORDER_PRICE = 250.00
BIG_ORDER_LIST_PRICE = 279.99
BIG_ORDER_DATE = pd.Timestamp("2026-10-05")
BIG_ORDER_PROMISED = pd.Timestamp("2026-11-20")
BIG_ORDER_SCHEDULED = pd.Timestamp("2026-12-04")

FILES = {
    "erp_item_master.csv": ["Item Number", "Item Description", "Product Line", "Std Cost",
                            "List Price", "Primary Vendor", "Item Status"],
    "crm_accounts.csv": ["Account ID", "Account Name", "Sales Region", "Segment",
                         "Payment Terms (days)", "Late Penalty %/wk", "Penalty Cap %", "Credit Limit"],
    "erp_vendors.csv": ["Vendor ID", "Vendor Name", "Terms (days)", "Lead Time (days)", "Country"],
    "sop_forecast_snapshots.csv": ["Snapshot Week", "Target Week", "Item Number", "Forecast Qty"],
    "sop_plan.xlsx": ["Week", "Item Number", "Region", "Plan Units", "Plan Revenue", "Plan COGS",
                      "Plan Version"],
    "erp_sales_order_lines.csv": ["SO Number", "Line", "Order Date", "Account ID", "Item Number",
                                  "Qty Ordered", "Unit Price", "Requested Date", "Promised Date",
                                  "Scheduled Ship Date", "Line Status"],
    "erp_shipments.csv": ["Shipment No", "SO Number", "Line", "Ship Date", "Qty Shipped"],
    "erp_ar_invoices.csv": ["Invoice No", "Account ID", "SO Number", "Invoice Date", "Due Date",
                            "Invoice Amount", "Paid Date", "Amount Paid"],
    "mrp_purchase_orders.csv": ["PO Number", "PO Line", "Vendor ID", "Item Number", "PO Date",
                                "Promised Date", "Expected Date", "Qty Ordered", "Unit Cost",
                                "Received Date", "Qty Received"],
    "erp_ap_bills.csv": ["Bill No", "Vendor ID", "PO Number", "Bill Date", "Due Date", "Bill Amount",
                         "Paid Date"],
    "erp_inventory_weekly.csv": ["Week", "Item Number", "Warehouse", "On Hand Qty", "On Hand Value"],
    "treasury_cash.csv": ["Item", "Type", "Amount", "Date", "Frequency", "End Date", "Category"],
}

_SKU_TYPES = {
    "Sensors": (["Inductive Proximity Sensor", "Capacitive Proximity Sensor", "Photoelectric Sensor",
                 "Ultrasonic Level Sensor", "Pressure Transducer", "RTD Temperature Probe",
                 "Thermocouple Type K", "Hall Effect Sensor", "Vibration Sensor", "Flow Sensor"],
                ["M8", "M12", "M18", "M30", "4-20mA", "IO-Link", "PNP", "0-10V"]),
    "Controllers": (["PLC Compact CPU", "PLC Modular CPU", "Motion Controller", "Temperature Controller",
                     "HMI Panel 7in", "HMI Panel 10in", "Remote I/O Module", "Safety Relay Module",
                     "Servo Drive", "Variable Frequency Drive"],
                    ["16DI/16DO", "Ethernet/IP", "PROFINET", "Modbus TCP", "1.5kW", "4kW", "24VDC", "EtherCAT"]),
    "Enclosures": (["Wall-Mount Enclosure", "Floor-Stand Enclosure", "Junction Box", "Stainless Enclosure",
                    "Polycarbonate Box", "Operator Console", "DIN Rail Cabinet"],
                   ["300x200x150", "400x300x200", "600x400x250", "800x600x300", "1200x800x400", "IP66",
                    "NEMA 4X"]),
    "Cables & Harnesses": (["M12 Cordset", "M8 Cordset", "Cat6A Patch Cable", "Power Cable 3G1.5",
                            "Servo Motor Cable", "Custom Wire Harness", "Shielded Control Cable",
                            "Fiber Patch Cord"],
                           ["1m", "2m", "5m", "10m", "4-pin", "8-pin"]),
    "Power Supplies": (["DIN Rail PSU 24V", "DIN Rail PSU 12V", "Redundancy Module", "DC-DC Converter",
                        "UPS Module", "Enclosed PSU 48V", "Battery Module"],
                       ["60W", "120W", "240W", "480W", "960W", "1-phase", "3-phase"]),
}

_CUSTOMER_WORDS = {
    "Americas": (["Apex", "Summit", "Ridgeline", "Bluewater", "Ironwood", "Prairie", "Cascade", "Granite",
                  "Redstone", "Lakeshore", "Pioneer", "Frontier", "Keystone", "Silverline", "Northstar",
                  "Blackhawk", "Coastal", "Heartland", "Liberty", "Evergreen", "Sierra", "Mesa", "Canyon",
                  "Harbor", "Falcon", "Cardinal", "Atlas", "Vanguard", "Sterling", "Copperhead"],
                 ["Automation", "Controls", "Industrial Supply", "Machine Works", "Electric", "Systems",
                  "Robotics", "Fabrication", "Process Equipment", "Packaging", "Technologies", "Engineering"],
                 ["Inc.", "LLC", "Corp.", "Co."]),
    "EMEA": (["Nordhaven", "Rheinland", "Albion", "Baltic", "Alpen", "Thames", "Danube", "Iberia",
              "Helvetia", "Flanders", "Lombardia", "Silesia", "Aurora", "Meridian", "Carrick", "Solent",
              "Vltava", "Skagen", "Brabant", "Pennine"],
             ["Antriebstechnik", "Automation", "Industrietechnik", "Engineering", "Controls", "Elektro",
              "Systems", "Maschinenbau", "Process Solutions"],
             ["GmbH", "Ltd", "B.V.", "S.p.A.", "AB", "S.A.", "Sp. z o.o.", "A/S"]),
    "APAC": (["Pacific", "Sakura", "Golden Dragon", "Lotus", "Southern Cross", "Harbourside", "Jade",
              "Orchid", "Coral", "Kiwi", "Tasman", "Mekong", "Han River", "Bengal", "Straits"],
             ["Automation", "Electronics", "Industrial", "Precision", "Engineering", "Technology"],
             ["Pte Ltd", "Pty Ltd", "Co., Ltd.", "K.K.", "Sdn Bhd", "Pvt Ltd", "Limited"]),
}
_SPECIAL_CUSTOMERS = (
    ("Société d'Équipement Lyonnais", "EMEA"),
    ("O'Brien & Daughters Ltd", "EMEA"),
    ("Müller Antriebstechnik GmbH", "EMEA"),
    ("Ångström Precision AB", "EMEA"),
    ("Façade Systèmes SARL", "EMEA"),
    ("Electrónica Peñalver S.L.", "EMEA"),
    ("Zürcher Präzisionstechnik AG", "EMEA"),
    ("São Paulo Automação Ltda", "Americas"),
    ("Québec Contrôles Inc.", "Americas"),
    ("Industrias Montaña S.A. de C.V.", "Americas"),
)

# country: (number of suppliers, lead time range in days, place names, name template)
_SUPPLIER_COUNTRIES = {
    "United States": (14, (14, 28), ["Great Lakes", "Ozark", "Tri-State", "Midwest", "Lone Star",
                                      "Pacific Coast", "Buckeye", "Carolina", "Rocky Mountain",
                                      "Hudson Valley", "Piedmont", "Gulf Coast"], "{p} {k} Inc."),
    "Mexico": (8, (21, 35), ["Monterrey", "Bajío", "Querétaro", "Tijuana", "Jalisco", "Saltillo"],
               "{k} {p} S.A. de C.V."),
    "Canada": (4, (14, 28), ["Laurentian", "Niagara", "Fraser", "Prairie North"], "{p} {k} Ltd."),
    "Germany": (6, (35, 49), ["Schwarzwald", "Bodensee", "Franken", "Ruhr", "Eifel", "Allgäu"],
                "{p} {k} GmbH"),
    "Poland": (3, (28, 42), ["Wrocław", "Poznań", "Gdańsk"], "{p} {k} Sp. z o.o."),
    "China": (12, (49, 70), ["Shenzhen Huaxin", "Dongguan Jinlong", "Suzhou Tianyu", "Ningbo Hongda",
                             "Xiamen Xinyuan", "Wuxi Ruifeng", "Foshan Kaida", "Zhuhai Meilong"],
              "{p} {k} Co., Ltd."),
    "Taiwan": (6, (42, 63), ["Hsinchu", "Taichung", "Kaohsiung", "Tainan", "Taoyuan", "Formosa"],
               "{p} {k} Co., Ltd."),
    "Vietnam": (3, (49, 70), ["Saigon", "Hanoi", "Da Nang"], "{p} {k} JSC"),
    "Malaysia": (2, (42, 63), ["Penang", "Johor"], "{p} {k} Sdn Bhd"),
    "Japan": (2, (35, 56), ["Nagoya", "Osaka"], "{p} {k} K.K."),
}
_SUPPLIER_KINDS = ["Precision", "Electronics", "Components", "Cable Works", "Metal Products",
                   "Power Technology", "Sensor Technology", "Plastics", "Enclosure Systems", "Circuits"]


# --------------------------------------------------------------------------- small helpers
def _rngs(seed: int, n: int = 8) -> list[np.random.Generator]:
    """Independent child generators, one per part, so parts don't shift each other's draws."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(n)]


def _day(ts) -> int:
    return int((pd.Timestamp(ts) - START_DATE).days)


def _week_idx(label: str) -> int:
    return week_diff(label, START)


_LABEL_CACHE: dict[str, np.ndarray] = {}


def _day_labels() -> np.ndarray:
    if "day" not in _LABEL_CACHE:
        days = np.datetime64(START_DATE.date()) + np.arange(DAY_LO, DAY_HI)
        _LABEL_CACHE["day"] = np.append(np.datetime_as_string(days, unit="D"), "")
    return _LABEL_CACHE["day"]


def _week_labels() -> np.ndarray:
    if "week" not in _LABEL_CACHE:
        o = week_ordinal(START)
        _LABEL_CACHE["week"] = np.array([from_ordinal(o + w) for w in range(W_LO, W_HI)])
    return _LABEL_CACHE["week"]


def _dates(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` labels of day numbers (``NA_DAY`` -> empty)."""
    days = np.asarray(days, dtype=np.int64)
    labels = _day_labels()
    idx = days - DAY_LO
    missing = days == NA_DAY
    if np.any(~missing & ((idx < 0) | (idx >= len(labels) - 1))):
        raise ValueError("date outside the demo's label range")
    return labels[np.where(missing, len(labels) - 1, idx)]


def _weeks(w: np.ndarray) -> np.ndarray:
    return _week_labels()[np.asarray(w, dtype=np.int64) - W_LO]


def _ids(prefix: str, nums: np.ndarray, width: int) -> np.ndarray:
    nums = np.asarray(nums, dtype=np.int64)
    return np.char.add(prefix, np.char.zfill(nums.astype(str), width))


def _weekday_forward(days: np.ndarray) -> np.ndarray:
    """Saturday/Sunday -> the next Monday (day 0 is a Monday)."""
    dow = days % 7
    return days + np.where(dow == 5, 2, np.where(dow == 6, 1, 0))


def _weekday_back(days: np.ndarray) -> np.ndarray:
    """Saturday/Sunday -> the previous Friday."""
    dow = days % 7
    return days - np.where(dow == 5, 1, np.where(dow == 6, 2, 0))


def _money(x) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64), 2)


def _thousands(x: np.ndarray) -> np.ndarray:
    """Excel-style ``1,234.50`` text (NaN -> empty)."""
    return np.array(["" if v != v else f"{v:,.2f}" for v in np.asarray(x, dtype=np.float64).tolist()],
                    dtype=object)


def _largest_remainder(total: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Split whole ``total`` (n,) into len(shares) whole parts that sum to it."""
    raw = total[:, None] * shares[None, :]
    base = np.floor(raw)
    rest = (total - base.sum(axis=1)).astype(np.int64)
    order = np.argsort(-(raw - base), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(shares.size)[None, :].repeat(len(total), 0), axis=1)
    return (base + (rank < rest[:, None])).astype(np.int64)


def _write_csv(path: Path, cols: dict, n: int | None = None, *, encoding: str = "utf-8",
               lineterminator: str = "\n", chunk: int = 200_000) -> int:
    """Write ``n`` rows in chunks; returns ``n``.

    Each column is an array (sliced per chunk) or a function of a slice returning the
    chunk's values, so that text columns of big tables are only built a chunk at a time.
    Floats are written with 2 decimals (money), missing values as empty cells.
    """
    if n is None:
        n = len(next(v for v in cols.values() if not callable(v)))
    with open(path, "w", encoding=encoding, newline="") as fh:
        for i, a in enumerate(range(0, max(n, 1), chunk)):
            sl = slice(a, min(a + chunk, n))
            df = pd.DataFrame({k: (v(sl) if callable(v) else v[sl]) for k, v in cols.items()})
            df.to_csv(fh, index=False, header=(i == 0), lineterminator=lineterminator,
                      float_format="%.2f")
    return n


def _fix_zip(raw: bytes) -> bytes:
    """Make an .xlsx byte-identical across runs: fixed entry times and document dates."""
    stamp = "2026-11-22T00:00:00Z"
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                              lambda m: m.group(1) + stamp + m.group(3), text)
                data = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=(2026, 11, 22, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zout.writestr(zi, data)
    return out.getvalue()


# --------------------------------------------------------------------------- masters
def _products(rng: np.random.Generator) -> dict:
    S = len(LINES) * SKUS_PER_LINE
    line = np.repeat(np.arange(len(LINES)), SKUS_PER_LINE)
    num = np.tile(np.arange(1, SKUS_PER_LINE + 1), len(LINES)) + (line + 1) * 1000
    sku = np.array([f"{LINE_PREFIX[l]}-{n}" for l, n in zip(line, num)])
    desc = []
    for name in LINES:
        types, variants = _SKU_TYPES[name]
        combos = [f"{t}, {v}" for t in types for v in variants]
        pick = rng.choice(len(combos), SKUS_PER_LINE, replace=False)
        desc += [combos[i] for i in pick]
    lo = np.array([LINE_PRICE_RANGE[l][0] for l in line], dtype=float)
    hi = np.array([LINE_PRICE_RANGE[l][1] for l in line], dtype=float)
    list_price = np.floor(np.exp(rng.uniform(np.log(lo), np.log(hi)))) + 0.99
    clo = np.array([LINE_COST_SHARE[l][0] for l in line])
    chi = np.array([LINE_COST_SHARE[l][1] for l in line])
    cost_share = rng.uniform(clo, chi)
    # revenue weight within the line (Pareto-ish)
    w = rng.lognormal(0.0, 0.8, S)
    idx = {s: i for i, s in enumerate(sku)}
    big, pwr = idx[SPIKE_SKU], idx[BIG_ORDER_SKU]
    sen = np.flatnonzero(line == 0)
    top = sen[np.argmax(w[sen])]
    w[[big, top]] = w[[top, big]]                      # SEN-1007 is the largest Sensors SKU
    list_price[pwr] = BIG_ORDER_LIST_PRICE
    unit_cost = _money(list_price * cost_share)
    # the delayed supplier's SKUs: three of the larger Enclosures SKUs
    enc = np.flatnonzero(line == 2)
    starved = np.array([idx["ENC-3003"], idx["ENC-3008"], idx["ENC-3014"]])
    ranked_w = np.sort(w[enc])[::-1]
    for s, v in zip(starved, ranked_w[[1, 2, 4]]):
        r = enc[np.flatnonzero(w[enc] == v)[0]]
        w[[s, r]] = w[[r, s]]
    # lifecycle: a few new and discontinued SKUs (never the planted ones)
    status = np.array(["active"] * S, dtype=object)
    pool = np.setdiff1d(np.arange(S), np.concatenate([[big, pwr], starved]))
    chosen = rng.choice(pool, 15, replace=False)
    new, disc = chosen[:8], chosen[8:]
    status[new], status[disc] = "new", "discontinued"
    launch = np.full(S, -10**6)
    launch[new] = rng.integers(62, 96, new.size)       # 2025-W50 .. 2026-W31
    end = np.full(S, 10**6)
    end[disc] = rng.integers(30, 101, disc.size)       # 2025-W18 .. 2026-W36
    return dict(n=S, sku=sku, line=line, desc=np.array(desc), list_price=list_price,
                unit_cost=unit_cost, weight=w, status=status, launch=launch, end=end,
                starved=starved, idx=idx)


def _customers(rng: np.random.Generator) -> dict:
    C = N_CUSTOMERS
    region = rng.permutation(np.repeat(np.arange(3), REGION_COUNTS))
    names = np.empty(C, dtype=object)
    for r, reg in enumerate(REGIONS):
        first, second, suffix = _CUSTOMER_WORDS[reg]
        grid = [f"{a} {b} {c}" for a in first for b in second for c in suffix]
        members = np.flatnonzero(region == r)
        names[members] = [grid[i] for i in rng.choice(len(grid), members.size, replace=False)]
    for name, reg in _SPECIAL_CUSTOMERS:
        members = np.flatnonzero((region == REGIONS.index(reg)) & ~np.isin(names, [n for n, _ in _SPECIAL_CUSTOMERS]))
        names[rng.choice(members)] = name
    # revenue weights: Zipf over a random ranking
    rank = rng.permutation(C) + 1
    weight = 1.0 / rank ** 1.0
    weight /= weight.sum()
    segment = rng.choice(3, C, p=[0.35, 0.25, 0.40])
    disc_lo = np.array([0.05, 0.12, 0.00])[segment]
    disc_hi = np.array([0.15, 0.20, 0.08])[segment]
    discount = rng.uniform(disc_lo, disc_hi)
    terms = rng.choice([30, 45, 60], C, p=[0.5, 0.3, 0.2])
    chronic = rng.random(C) < 0.10
    lateness = np.where(chronic, rng.uniform(20, 45, C), rng.uniform(0, 7, C))
    # the big delayed order's customer: a large Americas OEM with a penalty clause
    am = np.flatnonzero(region == 0)
    big = am[np.argsort(-weight[am], kind="stable")[2]]
    segment[big] = 0
    discount[big] = 1 - BIG_ORDER_PRICE / BIG_ORDER_LIST_PRICE
    chronic[big], lateness[big] = False, 3.0
    others = np.setdiff1d(np.arange(C), [big])
    penalty_ids = np.sort(np.append(rng.choice(others, int(round(0.15 * C)) - 1, replace=False), big))
    pen = np.full(C, np.nan)
    cap = np.full(C, np.nan)
    pen[penalty_ids] = rng.choice([0.01, 0.015, 0.02], penalty_ids.size)
    cap[penalty_ids] = rng.choice([0.05, 0.075, 0.10], penalty_ids.size)
    pen[big], cap[big] = 0.015, 0.075
    return dict(n=C, id=_ids("C-", np.arange(1, C + 1), 4), name=names, region=region,
                segment=segment, discount=discount, terms=terms, chronic=chronic,
                lateness=lateness, penalty=pen, cap=cap, weight=weight, big=big)


def _suppliers(rng: np.random.Generator, products: dict) -> dict:
    country, lead, names = [], [], []
    seen: set[str] = set()
    for c, (k, (lo, hi), places, tmpl) in _SUPPLIER_COUNTRIES.items():
        for _ in range(k):
            while True:
                nm = tmpl.format(p=places[rng.integers(len(places))],
                                 k=_SUPPLIER_KINDS[rng.integers(len(_SUPPLIER_KINDS))])
                if nm not in seen:
                    break
            seen.add(nm)
            names.append(nm)
            country.append(c)
            lead.append(int(rng.integers(lo // 7, hi // 7 + 1)) * 7)
    order = rng.permutation(N_SUPPLIERS)
    country = np.array(country, dtype=object)[order]
    names = np.array(names, dtype=object)[order]
    lead = np.array(lead)[order]
    terms = rng.choice([30, 45, 60], N_SUPPLIERS, p=[0.35, 0.35, 0.30])
    sid = _ids("S-", np.arange(1, N_SUPPLIERS + 1), 3)
    d = int(DELAYED_SUPPLIER[2:]) - 1
    country[d], names[d], lead[d], terms[d] = "Taiwan", "Formosa Precision Enclosures Co., Ltd.", 42, 60
    # product line pools: 12 suppliers per line, S-017 in Enclosures
    pool_line = rng.permutation(np.repeat(np.arange(len(LINES)), N_SUPPLIERS // len(LINES)))
    if pool_line[d] != 2:
        j = np.flatnonzero(pool_line == 2)[0]
        pool_line[[d, j]] = pool_line[[j, d]]
    primary = np.empty(products["n"], dtype=np.int64)
    starved = set(products["starved"].tolist())
    for li in range(len(LINES)):
        skus = [s for s in np.flatnonzero(products["line"] == li) if s not in starved]
        sups = [s for s in np.flatnonzero(pool_line == li) if s != d]
        skus = rng.permutation(skus)
        primary[skus] = np.array(sups)[np.arange(len(skus)) % len(sups)]
    primary[products["starved"]] = d
    review = rng.choice([1, 2, 2, 3, 4], N_SUPPLIERS)
    review[d] = 1
    return dict(n=N_SUPPLIERS, id=sid, name=names, country=country, lead=lead, terms=terms,
                primary=primary, review=review, phase=rng.integers(0, 4, N_SUPPLIERS) % review,
                order_dow=rng.integers(0, 5, N_SUPPLIERS), delayed=d)


# --------------------------------------------------------------------------- demand model
def _seasonality(w: np.ndarray) -> np.ndarray:
    thursday = START_DATE + pd.to_timedelta(7 * w + 3, unit="D")
    phase = (thursday.day_of_year.to_numpy() - 0.5) / 365.25

    def bump(center, width, height):
        d = (phase - center + 0.5) % 1.0 - 0.5
        return height * np.exp(-0.5 * (d / width) ** 2)

    return 1.0 + bump(0.83, 0.09, 0.16) - bump(0.58, 0.05, 0.12) - bump(0.995, 0.012, 0.40)


def _demand_model(rng: np.random.Generator, products: dict, customers: dict, scale: float) -> dict:
    """Expected weekly units E[w, s] on the week grid W_LO..W_HI-1, plus biases and line sizes."""
    S = products["n"]
    w = np.arange(W_LO, W_HI)
    shape = ((1 + TREND_PER_YEAR) ** (w / 52.1775)) * _seasonality(w)
    life = np.clip((w[:, None] - products["launch"][None, :] + 1) / 8.0, 0, 1) * \
        np.clip((products["end"][None, :] - w[:, None]) / 10.0, 0, 1)
    avg_disc = float(np.dot(customers["weight"], customers["discount"]))
    plan_price = _money(products["list_price"] * (1 - avg_disc))
    line = products["line"]
    share = np.array(LINE_REVENUE_SHARE)[line]
    within = products["weight"] / np.bincount(line, weights=products["weight"])[line]
    units0 = share * within / plan_price                # units/week per $1 of weekly revenue
    line_bias = np.where(line == 1, CONTROLLERS_BIAS, rng.uniform(-0.015, 0.015, len(LINES))[line])
    sku_bias = rng.normal(0, 0.03, S)
    sku_bias[products["idx"][SPIKE_SKU]] = 0.0
    sku_bias -= np.bincount(line, weights=sku_bias * within)[line]   # revenue-weighted mean 0 per line
    sku_bias[products["idx"][SPIKE_SKU]] = 0.0
    bias = (1 + line_bias) * (1 + sku_bias)
    E1 = shape[:, None] * life * units0[None, :]
    q4 = np.array([_week_idx(x) for x in FiscalCalendar("iso").quarter_weeks(CURRENT_QUARTER)]) - W_LO
    level = TARGET_Q4_PLAN_REVENUE / float((E1[q4] * (bias * plan_price)[None, :]).sum())
    E_unit = E1 * level                                 # expected units at scale 1
    # mean units per order line: aim for TARGET_LINES over the history at scale 1
    hist = slice(-W_LO, -W_LO + N_WEEKS)
    tot = E_unit[hist].sum(axis=0)
    v = rng.lognormal(0, 0.4, S)
    v[products["starved"]] = 0.5                         # many small lines: steady demand
    lo_v, hi_v = 1.0, 1e6
    for _ in range(60):
        mid = np.sqrt(lo_v * hi_v)
        m = np.maximum(1.3, mid * v / plan_price)
        lo_v, hi_v = (mid, hi_v) if (tot / m).sum() > TARGET_LINES else (lo_v, mid)
    m = np.maximum(1.3, np.sqrt(lo_v * hi_v) * v / plan_price)
    pack = np.where(m >= 60, 10, np.where(m >= 20, 5, 1))
    # weekly demand variability (compound Poisson lines x negative-binomial sizes x weekly shocks)
    mu = m / pack - 1
    q2 = pack**2 * (mu + mu**2 / NB_SHAPE) + m**2
    e_now = np.maximum(E_unit[-W_LO:N_WEEKS - W_LO].max(axis=0) * scale, 1e-9)   # at its peak
    cv_week = np.sqrt(e_now / m * q2 / e_now**2 + ETA_SIGMA**2)
    return dict(E=E_unit * scale, bias=bias, line_bias=line_bias, plan_price=plan_price,
                avg_disc=avg_disc, line_qty=m, pack=pack, cv_week=cv_week)


def _forecasts(rng: np.random.Generator, model: dict, n_skus: int) -> np.ndarray:
    """fc[i, k, s]: forecast made at the end of week i-1 (i=0 -> 2024-W39) for week i-1+k+1."""
    E, bias = model["E"], model["bias"]
    snaps = np.arange(-1, N_WEEKS)
    lags = np.arange(1, MAX_LAG + 1)
    target = snaps[:, None] + lags[None, :]
    sigma = 0.05 + 0.012 * (lags - 1)
    z_target = rng.standard_normal((W_HI - W_LO, n_skus))
    z = rng.standard_normal((snaps.size, lags.size, n_skus))
    eps = sigma[None, :, None] * (0.6 * z_target[target - W_LO] + 0.8 * z)
    fc = E[target - W_LO] * bias[None, None, :] * (1 + np.maximum(eps, -0.5))
    return np.rint(fc)


def _plan(fc: np.ndarray, model: dict, products: dict, customers: dict) -> dict:
    cal = FiscalCalendar("iso")
    reg_share = np.bincount(customers["region"], weights=customers["weight"], minlength=3)
    reg_share = reg_share / reg_share.sum()
    S = products["n"]
    parts = []
    for q in PLAN_QUARTERS:
        wk = np.array([_week_idx(x) for x in cal.quarter_weeks(q)])
        snap = wk[0] - 1
        units = fc[snap + 1, np.arange(wk.size)]                # (weeks, S), lags 1..n
        tot = units.reshape(-1)
        split = _largest_remainder(tot, reg_share)               # (weeks*S, 3)
        ww = np.repeat(wk, S)
        ss = np.tile(np.arange(S), wk.size)
        parts.append((np.repeat(ww, 3), np.repeat(ss, 3), np.tile(np.arange(3), ww.size),
                      split.reshape(-1), np.full(ww.size * 3, q)))
    w, s, r, u, qv = (np.concatenate(x) for x in zip(*parts))
    keep = u > 0
    w, s, r, u, qv = w[keep], s[keep], r[keep], u[keep], qv[keep]
    return dict(week=w, sku=s, region=r, units=u,
                revenue=_money(u * model["plan_price"][s]),
                cogs=_money(u * products["unit_cost"][s]),
                version=np.char.add(qv.astype(str), " S&OP"))


# --------------------------------------------------------------------------- sales
def _orders(rng: np.random.Generator, model: dict, fc: np.ndarray, plan: dict,
            products: dict, customers: dict) -> dict:
    """Sales order lines: demand -> lines, grouped into orders, then fulfilled (or not)."""
    lines = _order_lines(rng, model, fc, plan, products, customers)
    lines.update(_order_numbers(rng, lines["order_day"], lines["cust"], customers["n"]))
    lines.update(_fulfilment(rng, lines))
    # the planted 2-week production delay, appended as its own order
    extra = dict(order_num=int(BIG_ORDER_ID[3:]), line=1, order_day=_day(BIG_ORDER_DATE),
                 week=_day(BIG_ORDER_DATE) // 7, cust=customers["big"],
                 sku=products["idx"][BIG_ORDER_SKU], qty=BIG_ORDER_QTY, price=BIG_ORDER_PRICE,
                 requested=_day(BIG_ORDER_PROMISED), promised=_day(BIG_ORDER_PROMISED),
                 scheduled=_day(BIG_ORDER_SCHEDULED), status=OPEN, s1=False, s2=False,
                 ship1=NA_DAY, ship2=NA_DAY, q1=0)
    out = {k: np.append(lines[k], v).astype(lines[k].dtype) for k, v in extra.items()}
    out.update(n=out["qty"].size, spike_ratio=lines["spike_ratio"])
    return out


def _order_lines(rng, model, fc, plan, products, customers) -> dict:
    S, C = products["n"], customers["n"]
    E = model["E"][-W_LO:-W_LO + N_WEEKS]                        # (112, S)
    m, pack = model["line_qty"], model["pack"]
    eta = rng.lognormal(-0.5 * ETA_SIGMA**2, ETA_SIGMA, E.shape)
    counts = rng.poisson(E * eta / m[None, :] / (1 - P_CANCEL))    # net of cancellations = E
    # demand spike: SEN-1007 on expectation in W40..W43, then >= 1.27x the lag-1 forecast
    sp = products["idx"][SPIKE_SKU]
    q4 = _week_idx("2026-W40")
    pre = np.arange(q4, _week_idx(SPIKE_WEEKS[0]))
    spike = np.array([_week_idx(x) for x in SPIKE_WEEKS])
    qtd = np.arange(q4, N_WEEKS)
    target = np.zeros(N_WEEKS)
    target[pre] = np.rint(E[pre, sp] * 1.03)
    lag1 = fc[spike, 0, sp]                                      # snapshot w-1 -> fc index w
    plan_qtd = plan["units"][(plan["sku"] == sp) & np.isin(plan["week"], qtd)].sum()
    fc_qtd = fc[qtd, 0, sp].sum()
    need = (1.13 * max(plan_qtd, fc_qtd) - target[pre].sum()) / max(lag1.sum(), 1.0)
    ratio = max(SPIKE_MIN_RATIO, need)
    target[spike] = np.ceil(lag1 * ratio)
    wk_fix = np.concatenate([pre, spike])
    target[wk_fix] = np.maximum(target[wk_fix], 2)
    counts[wk_fix, sp] = np.clip(rng.poisson(target[wk_fix] / m[sp]), 2, target[wk_fix])

    cell = np.repeat(np.arange(N_WEEKS * S, dtype=np.int32), counts.ravel())
    N = cell.size
    week, sku = cell // S, cell % S
    del cell
    dow_p = np.array([1.0, 1.05, 1.05, 1.0, 0.92, 0.12, 0.05])
    order_day = (week * 7 + rng.choice(7, N, p=dow_p / dow_p.sum())).astype(np.int32)
    cust = rng.choice(C, N, p=customers["weight"]).astype(np.int32)
    k = pack[sku]
    mu = m[sku] / k - 1.0
    qty = k * (1 + rng.negative_binomial(NB_SHAPE, NB_SHAPE / (NB_SHAPE + mu)))
    del mu
    for wi in wk_fix:                     # 8 SKU-weeks, not order lines: hit the target exactly
        sel = np.flatnonzero((sku == sp) & (week == wi))
        q = qty[sel].astype(float)
        new = 1 + np.floor(q / q.sum() * (target[wi] - sel.size)).astype(np.int64)
        new[np.argmax(q)] += int(target[wi] - new.sum())
        qty[sel] = new
    price = _money(products["list_price"][sku] * (1 - customers["discount"][cust])
                   * (1 + rng.normal(0, 0.01, N)))
    # keep each product line's demand on expectation (over the history before the current
    # quarter, and over the weeks that ship in it), so that only the planted deviations
    # (Controllers' forecast bias, the SEN-1007 spike) stand out
    lines_of = products["line"]
    nl = len(LINES)
    u = rng.random(N)
    u[(sku == sp) & (week >= q4) & (u < P_CANCEL)] = 0.5            # the spike is never cancelled
    seg_w = (np.arange(N_WEEKS) >= q4 - 3).astype(np.int64)          # 0 history, 1 recent window
    planted = np.zeros((N_WEEKS, S), bool)
    planted[wk_fix, sp] = True
    fixed = planted[week, sku]
    use = ~fixed & (u >= P_CANCEL)
    exp_rev = np.where(planted, 0.0, E * model["plan_price"][None, :])
    key_e = (seg_w[:, None] * nl + lines_of[None, :]).ravel()
    exp_seg = np.bincount(key_e, weights=exp_rev.ravel(), minlength=2 * nl)
    key = seg_w[week] * nl + lines_of[sku]
    real_seg = np.bincount(key[use], weights=(qty * price)[use], minlength=2 * nl)
    f = np.where(real_seg > 0, exp_seg / np.maximum(real_seg, 1e-9), 1.0)[key]
    del key, use
    adj = k * np.maximum(1, np.floor(qty / k * f + rng.random(N))).astype(np.int64)
    qty = np.where(fixed, qty, adj).astype(np.int32)
    del adj, f, k
    requested = (order_day + 3 + np.floor(19 * rng.random(N) ** 2)).astype(np.int32)  # 3..21, mostly short
    extra = np.where(rng.random(N) < 0.7, 0, rng.integers(1, 8, N)).astype(np.int32)
    promised = _weekday_forward(requested + extra)
    return dict(week=week, sku=sku, order_day=order_day, cust=cust, qty=qty, price=price,
                requested=requested, promised=promised, u=u, spike_ratio=ratio)


def _order_numbers(rng, order_day, cust, n_customers) -> dict:
    """Lines of one customer on one day form orders of up to 6 lines, numbered by date."""
    N = order_day.size
    tie = rng.random(N)
    o = np.lexsort((tie, cust, order_day))
    del tie
    key = order_day[o].astype(np.int64) * n_customers + cust[o]
    start = np.r_[True, key[1:] != key[:-1]]
    del key
    run_start = np.maximum.accumulate(np.where(start, np.arange(N), 0))
    pos = np.arange(N) - run_start
    new_order = start | (pos % 6 == 0)
    num = 100001 + np.cumsum(new_order) - 1
    num = num + (num >= int(BIG_ORDER_ID[3:]))                   # keep SO-500000 for the planted one
    order_num = np.empty(N, dtype=np.int32)
    line_no = np.empty(N, dtype=np.int32)
    order_num[o] = num
    line_no[o] = pos % 6 + 1
    return dict(order_num=order_num, line=line_no)


def _fulfilment(rng, lines) -> dict:
    """Ship dates and quantities: on time, late, in two parts, short-closed or cancelled."""
    u, qty, promised, order_day = lines["u"], lines["qty"], lines["promised"], lines["order_day"]
    N = u.size
    # 0 on time, 1 late, 2 partial, 3 short-closed, 4 cancelled
    cat = np.select([u < P_CANCEL, u < P_CANCEL + 0.01, u < P_CANCEL + 0.06, u < P_CANCEL + 0.115],
                    [4, 3, 2, 1], 0).astype(np.int8)
    cat[((cat == 2) | (cat == 3)) & (qty < 2)] = 0
    early = rng.choice(3, N, p=[0.6, 0.25, 0.15])
    ship1 = np.maximum(_weekday_back(promised - early), order_day)
    del early
    late = _weekday_forward(promised + rng.integers(1, 14, N))
    ship1 = np.where(cat == 1, late, ship1).astype(np.int32)
    del late
    ship2 = _weekday_forward(promised + rng.integers(3, 17, N)).astype(np.int32)
    frac = np.where(cat == 2, rng.uniform(0.4, 0.9, N), rng.uniform(0.7, 0.95, N))
    q1 = np.where((cat == 2) | (cat == 3), np.clip(np.rint(qty * frac), 1, qty - 1), qty).astype(np.int32)
    del frac
    s1 = (cat != 4) & (ship1 <= AS_OF_DAY)
    s2 = (cat == 2) & (ship2 <= AS_OF_DAY)
    done = np.where(cat == 2, s2, s1)
    status = np.where(cat == 4, CANCELLED, np.where(done, CLOSED, OPEN)).astype(np.int8)
    final = np.where(cat == 2, ship2, ship1)
    scheduled = np.where((status == OPEN) & (final > promised), final, NA_DAY)
    return dict(status=status, scheduled=scheduled, s1=s1, s2=s2, ship1=ship1, ship2=ship2, q1=q1)


def _shipments(orders: dict) -> dict:
    i1 = np.flatnonzero(orders["s1"])
    i2 = np.flatnonzero(orders["s2"])
    li = np.concatenate([i1, i2])
    day = np.concatenate([orders["ship1"][i1], orders["ship2"][i2]])
    qty = np.concatenate([orders["q1"][i1], (orders["qty"] - orders["q1"])[i2]])
    o = np.lexsort((orders["line"][li], orders["order_num"][li], day))
    li, day, qty = li[o], day[o], qty[o]
    on = orders["order_num"][li]
    new = np.r_[True, (day[1:] != day[:-1]) | (on[1:] != on[:-1])] if li.size else np.zeros(0, bool)
    group = np.cumsum(new) - 1
    return dict(n=li.size, line_idx=li, day=day, qty=qty, group=group, n_groups=int(new.sum()))


def _invoices(rng: np.random.Generator, orders: dict, ship: dict, customers: dict) -> dict:
    G = ship["n_groups"]
    li = ship["line_idx"]
    line_amt = _money(ship["qty"] * orders["price"][li])
    amount = _money(np.bincount(ship["group"], weights=line_amt, minlength=G))
    first = np.r_[0, np.flatnonzero(np.diff(ship["group"])) + 1] if G else np.zeros(0, np.int64)
    gl = li[first]
    cust = orders["cust"][gl]
    order_num = orders["order_num"][gl]
    inv_day = ship["day"][first]
    due = inv_day + customers["terms"][cust]
    pay = due + np.rint(customers["lateness"][cust] + rng.normal(0, 3, G)).astype(np.int64)
    pay = np.maximum(_weekday_forward(pay), inv_day)
    # a handful of credit notes (price adjustments, returns)
    cn = np.flatnonzero(rng.random(G) < 0.001)
    cn_day = inv_day[cn] + rng.integers(5, 40, cn.size)
    ok = cn_day <= AS_OF_DAY
    cn, cn_day = cn[ok], cn_day[ok]
    cn_amt = -_money(amount[cn] * rng.uniform(0.02, 0.15, cn.size))
    cn_pay = cn_day + rng.integers(0, 10, cn.size)
    all_day = np.concatenate([inv_day, cn_day])
    num = np.concatenate([1000001 + np.arange(G), 200001 + np.arange(cn.size)])
    is_cn = np.concatenate([np.zeros(G, bool), np.ones(cn.size, bool)])
    o = np.lexsort((is_cn, all_day))
    c_all = np.concatenate([cust, cust[cn]])
    due_all = np.concatenate([due, cn_day + customers["terms"][cust[cn]]])
    pay_all = np.concatenate([pay, cn_pay])
    amt_all = np.concatenate([amount, cn_amt])
    paid = pay_all <= AS_OF_DAY
    return dict(n=num.size, num=num[o], is_cn=is_cn[o], cust=c_all[o],
                order_num=np.concatenate([order_num, order_num[cn]])[o],
                day=all_day[o], due=due_all[o], amount=amt_all[o],
                paid_day=np.where(paid, pay_all, NA_DAY)[o],
                paid_amount=np.where(paid, amt_all, np.nan)[o], n_credit_notes=int(cn.size))


# --------------------------------------------------------------------------- supply
def _supply(rng: np.random.Generator, model: dict, products: dict, suppliers: dict,
            orders: dict, ship: dict) -> dict:
    """Weekly order-up-to replenishment per SKU (a loop over weeks, vectorised over SKUs).

    The delayed supplier's SKUs also had short receipts in 2026-W41..W45 (its capacity
    problem started with short shipments), sized so that they end 2026-W47 with well
    under 1.5 weeks of cover: the simulation runs a second time with those shortfalls.
    """
    S = products["n"]
    sup = suppliers["primary"]
    delayed_sku = sup == suppliers["delayed"]
    lead_w = suppliers["lead"][sup] / 7.0
    review_w = suppliers["review"][sup]
    # safety stock in weeks: a base plus z * CV * sqrt(lead time + review period)
    safety = rng.uniform(1.0, 2.5, S) + 1.3 * model["cv_week"] * np.sqrt(lead_w + review_w)
    cost = products["unit_cost"]
    E = model["E"]
    shipped = np.zeros((N_WEEKS, S))
    li = ship["line_idx"]
    np.add.at(shipped, (ship["day"] // 7, orders["sku"][li]), ship["qty"])
    T0 = -12
    n_t = N_WEEKS - T0
    draws = dict(  # pre-drawn randomness of fixed shapes: independent of scale and of the pass
        delay=np.where(rng.random((n_t, S)) < 0.12, rng.integers(2, 16, (n_t, S)), 0),
        jit=rng.integers(-2, 4, (n_t, S)),
        short=np.where(rng.random((n_t, S)) < 0.04, rng.uniform(0.85, 0.98, (n_t, S)), 1.0),
        cost=rng.normal(0, 0.012, (n_t, S)))
    target_cover = rng.uniform(0.5, 1.0, S)
    # planning forecast per week: the (biased) expectation over the next 8 weeks
    Fp = np.stack([E[g + 1:g + 9].mean(axis=0) for g in range(E.shape[0] - 9)]) * model["bias"]
    args = (E, Fp, shipped, sup, suppliers, delayed_sku, safety, cost, draws, T0)
    cut = np.zeros(S)
    sim = _replenish(*args, cut)
    weekly = E[N_WEEKS - 1 - W_LO]
    excess = np.where(delayed_sku, sim["on_hand"][-1] - target_cover * weekly, 0.0)
    if np.any(excess > 0):
        window = sim["window_receipts"]
        cut = np.where(window > 0, np.clip(excess / np.maximum(window, 1e-9), 0, 0.9), 0.0)
        sim = _replenish(*args, cut)
    po = sim["po"]
    # inventory by warehouse
    total = sim["on_hand"]
    dal_share = rng.uniform(0.5, 0.75, S)
    jitter = rng.normal(0, 0.03, (N_WEEKS, S))
    dal = np.rint(total * np.clip(dal_share[None, :] + jitter, 0, 1)).astype(np.int64)
    inv = np.stack([dal, total - dal], axis=2)                  # (week, sku, wh)
    return dict(po=po, inventory=inv, on_hand=total, safety=safety, Fp=Fp, short_cut=cut)


def _replenish(E, Fp, shipped, sup, suppliers, delayed_sku, safety, cost, draws, T0, cut) -> dict:
    S = E.shape[1]
    lead = suppliers["lead"][sup]
    review = suppliers["review"][sup]
    phase = suppliers["phase"][sup]
    odow = suppliers["order_dow"][sup]
    pack = np.where(cost < 10, 50, np.where(cost < 40, 10, np.where(cost < 150, 5, 1)))
    horizon = N_WEEKS + 40
    pipe_recv = np.zeros((horizon - T0, S))
    pipe_ord = np.zeros((horizon - T0, S))
    F0 = Fp[T0 - W_LO]
    on_hand = np.rint(F0 * (safety + review / 2.0))
    lead_w = lead // 7
    on_order = np.zeros(S)
    for k in range(1, int(lead_w.max()) + 1):                  # in transit at the start
        q = np.where(k <= lead_w, np.rint(F0), 0)
        pipe_recv[k] += q
        pipe_ord[k] += q
        on_order += q
    delay_from = _day(DELAY_FROM)
    w_lo, w_hi = _week_idx("2026-W41"), _week_idx("2026-W45")
    window_receipts = np.zeros(S)
    recs = []
    end_on_hand = np.zeros((N_WEEKS, S))
    for t in range(T0, N_WEEKS):
        i = t - T0
        on_hand += pipe_recv[i]
        on_order -= pipe_ord[i]
        out = shipped[t] if t >= 0 else np.rint(E[t - W_LO])
        on_hand = np.maximum(on_hand - out, 0)
        if t >= 0:
            end_on_hand[t] = on_hand
        F = Fp[t - W_LO]
        due = ((t - phase) % review == 0) & (F > 0)
        need = F * (lead / 7.0 + review + safety) - on_hand - on_order
        qty = np.where(due & (need > 0.25 * F * review), np.ceil(need / pack) * pack, 0)
        s = np.flatnonzero(qty > 0)
        if s.size == 0:
            continue
        po_day = 7 * t + odow[s]
        promised = po_day + lead[s]
        dl = delayed_sku[s]
        late = dl & (promised >= delay_from)
        delay = np.where(dl, np.where(late, SUPPLIER_DELAY_DAYS, 0), draws["delay"][i, s])
        expected = promised + delay
        jit = draws["jit"][i, s]
        jit = np.where(late, np.abs(jit), np.where(dl, np.minimum(jit, 1), jit))
        recv = np.maximum(_weekday_forward(expected + jit), po_day + 1)
        rw = recv // 7
        in_window = dl & (rw >= w_lo) & (rw <= w_hi)
        rq = np.rint(qty[s] * draws["short"][i, s])
        window_receipts[s[in_window]] += rq[in_window]
        rq = np.where(in_window, np.rint(rq * (1 - cut[s])), rq)
        pipe_recv[rw - T0, s] += rq
        pipe_ord[rw - T0, s] += qty[s]
        on_order[s] += qty[s]
        if t >= 0:
            recs.append((s, qty[s], po_day, promised, expected, recv, rq,
                         _money(cost[s] * (1 + draws["cost"][i, s]))))
    s_, q_, pod, prom, exp_, recv, rq, uc = (np.concatenate(x) for x in zip(*recs))
    received = recv <= AS_OF_DAY
    sp = sup[s_]
    o = np.lexsort((s_, sp, pod))
    s_, q_, pod, prom, exp_, recv, rq, uc, received, sp = (
        x[o] for x in (s_, q_, pod, prom, exp_, recv, rq, uc, received, sp))
    new = np.r_[True, (pod[1:] != pod[:-1]) | (sp[1:] != sp[:-1])]
    po_seq = np.cumsum(new) - 1
    start = np.maximum.accumulate(np.where(new, np.arange(new.size), 0))
    po = dict(n=s_.size, po_num=400001 + po_seq, line=np.arange(new.size) - start + 1, sku=s_,
              supplier=sp, day=pod, promised=prom, expected=exp_, qty=q_.astype(np.int64),
              unit_cost=uc, recv_day=np.where(received, recv, NA_DAY),
              recv_qty=rq.astype(np.int64), received=received)
    return dict(po=po, on_hand=np.rint(end_on_hand).astype(np.int64), window_receipts=window_receipts)


def _bills(rng: np.random.Generator, po: dict, suppliers: dict) -> dict:
    r = np.flatnonzero(po["received"])
    o = np.lexsort((po["line"][r], po["po_num"][r], po["recv_day"][r]))
    r = r[o]
    n = r.size
    day = po["recv_day"][r]
    due = day + suppliers["terms"][po["supplier"][r]]
    x = due - 3
    pay = x + (3 - x % 7) % 7                                   # Thursday payment run
    pay = pay + np.where(rng.random(n) < 0.08, 7, 0)
    paid = pay <= AS_OF_DAY
    return dict(n=n, id=_ids("VB-", 700001 + np.arange(n), 6), supplier=po["supplier"][r],
                po_num=po["po_num"][r], day=day, due=due,
                amount=_money(po["recv_qty"][r] * po["unit_cost"][r]),
                paid_day=np.where(paid, pay, NA_DAY))


def _cash(scale: float) -> pd.DataFrame:
    rows = [
        ("Opening bank balance", "opening_balance", OPENING_CASH, "2026-11-22", "", "", "Bank"),
        ("Payroll and payroll taxes", "recurring", -604_850.00, "2026-11-27", "biweekly", "", "Payroll"),
        ("Freight and carrier settlements", "recurring", -31_400.00, "2026-11-25", "weekly", "", "Logistics"),
        ("Rent - Dallas distribution center", "recurring", -68_000.00, "2026-12-01", "monthly", "", "Facilities"),
        ("Rent - Rotterdam warehouse", "recurring", -41_500.00, "2026-12-01", "monthly", "", "Facilities"),
        ("Software & SaaS subscriptions", "recurring", -38_750.00, "2026-12-05", "monthly", "", "IT"),
        ("Utilities", "recurring", -14_800.00, "2026-12-18", "monthly", "", "Facilities"),
        ("Forklift fleet lease", "recurring", -9_250.00, "2026-12-10", "monthly", "2027-06-10", "Leases"),
        ("Term loan interest", "recurring", -96_250.00, "2026-12-15", "quarterly", "2029-12-15", "Financing"),
        ("Insurance premiums", "recurring", -54_000.00, "2027-01-10", "quarterly", "", "Insurance"),
        ("Federal estimated income tax Q4", "one_off", -1_150_000.00, "2026-12-15", "", "", "Tax"),
        ("SMT line 3 - final capex payment", "one_off", -785_000.00, "2027-01-08", "", "", "Capex"),
    ]
    df = pd.DataFrame(rows, columns=FILES["treasury_cash.csv"])
    df["Amount"] = _money(df["Amount"].to_numpy() * scale)
    return df


# --------------------------------------------------------------------------- writers
def _write_plan_xlsx(path: Path, plan: dict, products: dict) -> int:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Plan")
    ws.append(FILES["sop_plan.xlsx"])
    cols = (_weeks(plan["week"]).tolist(), products["sku"][plan["sku"]].tolist(),
            np.array(REGIONS)[plan["region"]].tolist(), plan["units"].tolist(),
            plan["revenue"].tolist(), plan["cogs"].tolist(), plan["version"].tolist())
    for row in zip(*cols):
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_fix_zip(buf.getvalue()))
    return len(cols[0])


def _readme(summary: dict, events: list) -> str:
    rows = summary["rows"]
    lines = [
        f"{COMPANY} - demo exports (synthetic data)",
        "=" * 60,
        "",
        "A made-up mid-market manufacturer/distributor of industrial components: 5 product",
        "lines (Sensors, Controllers, Enclosures, Cables & Harnesses, Power Supplies), 150 SKUs,",
        "300 customers in Americas/EMEA/APAC, 60 suppliers, warehouses DAL (Dallas) and RTM",
        "(Rotterdam). History from 2024-09-30 (2024-W40) to the as-of date 2026-11-22",
        "(end of 2026-W47); only promised/scheduled/due/expected dates, forecast target",
        "weeks, plan weeks and treasury items lie in the future.",
        "",
        f"Generated by soe_helpers.demo.company.generate(seed={summary['seed']}, scale={summary['scale']}).",
        "",
        "Files (rows)",
        "------------",
    ]
    about = {
        "erp_item_master.csv": "ERP item master: SKU, description, line, std cost, list price, primary vendor, status",
        "crm_accounts.csv": "CRM accounts (Windows-1252): region, segment, terms, late-delivery penalty, "
                            "credit limit",
        "erp_vendors.csv": "ERP vendor master: terms and lead times",
        "sop_forecast_snapshots.csv": "every weekly demand forecast version, target weeks +1..+13",
        "sop_plan.xlsx": "approved quarterly S&OP plan (sheet 'Plan') by week, SKU and region",
        "erp_sales_order_lines.csv": "sales order lines with requested/promised/scheduled dates and status",
        "erp_shipments.csv": "deliveries against order lines (a line may ship in two parts)",
        "erp_ar_invoices.csv": "AR invoices and credit notes with payments (Excel 'CSV UTF-8': BOM, CRLF, 1,234.50)",
        "mrp_purchase_orders.csv": "purchase order lines with promised/expected/received dates",
        "erp_ap_bills.csv": "AP supplier bills with payment dates",
        "erp_inventory_weekly.csv": "end-of-week on-hand quantity and value by SKU and warehouse",
        "treasury_cash.csv": "opening bank balance and known recurring/one-off cash flows",
    }
    for f, text in about.items():
        lines.append(f"- {f} ({rows[f]} rows): {text}")
    lines += ["- planted_events.json: ground truth of the planted events below", "",
              "Planted events (2026-Q4)", "------------------------"]
    for e in events:
        lines.append(f"- {e['type']}: {e['summary']}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main entry
def generate(out_dir: str | Path, scale: float = 1.0, seed: int = DEFAULT_SEED) -> dict:
    """Write the demo exports of Kestrel Components Inc. into ``out_dir``.

    ``scale`` multiplies the demand volume (1.0 ~ 48K order lines; 25 ~ 1.2M); the
    masters stay the same. Returns a summary: files written, row counts and the
    planted events (also written to ``planted_events.json``).
    """
    scale = float(scale)
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r_master, r_cust, r_sup, r_model, r_fc, r_orders, r_ar, r_supply = _rngs(seed)

    products = _products(r_master)
    customers = _customers(r_cust)
    suppliers = _suppliers(r_sup, products)
    model = _demand_model(r_model, products, customers, scale)
    fc = _forecasts(r_fc, model, products["n"])
    plan = _plan(fc, model, products, customers)
    orders = _orders(r_orders, model, fc, plan, products, customers)
    ship = _shipments(orders)
    inv = _invoices(r_ar, orders, ship, customers)
    supply = _supply(r_supply, model, products, suppliers, orders, ship)
    po = supply["po"]
    bills = _bills(r_supply, po, suppliers)

    rows: dict[str, int] = {}
    S = products["n"]
    sku, cid, sid = products["sku"], customers["id"], suppliers["id"]

    rows["erp_item_master.csv"] = _write_csv(out / "erp_item_master.csv", {
        "Item Number": sku, "Item Description": products["desc"],
        "Product Line": np.array(LINES)[products["line"]], "Std Cost": products["unit_cost"],
        "List Price": products["list_price"], "Primary Vendor": sid[suppliers["primary"]],
        "Item Status": products["status"]})
    credit = np.ceil(customers["weight"] * TARGET_Q4_PLAN_REVENUE * 3.6 * scale
                     * (customers["terms"] + 45) / 365.0 * 1.5 / 5000.0) * 5000.0
    credit = np.maximum(credit, 25_000.0)
    credit[customers["big"]] = max(credit[customers["big"]], 1_000_000.0)   # room for SO-500000
    rows["crm_accounts.csv"] = _write_csv(out / "crm_accounts.csv", {
        "Account ID": cid, "Account Name": customers["name"],
        "Sales Region": np.array(REGIONS)[customers["region"]],
        "Segment": np.array(SEGMENTS)[customers["segment"]],
        "Payment Terms (days)": customers["terms"],
        "Late Penalty %/wk": np.array(["" if v != v else f"{v:g}" for v in customers["penalty"]], dtype=object),
        "Penalty Cap %": np.array(["" if v != v else f"{v:g}" for v in customers["cap"]], dtype=object),
        "Credit Limit": credit}, encoding="cp1252")
    rows["erp_vendors.csv"] = _write_csv(out / "erp_vendors.csv", {
        "Vendor ID": sid, "Vendor Name": suppliers["name"], "Terms (days)": suppliers["terms"],
        "Lead Time (days)": suppliers["lead"], "Country": suppliers["country"]})

    snaps = np.arange(N_WEEKS)
    lags = np.arange(1, N_LAGS + 1)
    f_rows = fc[1:, :N_LAGS, :]                                   # snapshots 0..111
    n_f = f_rows.size
    rows["sop_forecast_snapshots.csv"] = _write_csv(out / "sop_forecast_snapshots.csv", {
        "Snapshot Week": np.repeat(_weeks(snaps), N_LAGS * S),
        "Target Week": np.repeat(_weeks(snaps[:, None] + lags[None, :]).ravel(), S),
        "Item Number": np.tile(sku, N_WEEKS * N_LAGS),
        "Forecast Qty": f_rows.reshape(n_f).astype(np.int64)})
    rows["sop_plan.xlsx"] = _write_plan_xlsx(out / "sop_plan.xlsx", plan, products)

    so = np.lexsort((orders["line"], orders["order_num"]))
    status_labels = np.array(STATUSES)

    def col(arr, fmt, order=None):
        """Lazy text column: ``fmt`` applied to ``arr[order][slice]`` one chunk at a time."""
        return lambda sl: fmt(arr[sl] if order is None else arr[order[sl]])

    so_id = lambda nums: _ids("SO-", nums, 6)  # noqa: E731
    rows["erp_sales_order_lines.csv"] = _write_csv(out / "erp_sales_order_lines.csv", {
        "SO Number": col(orders["order_num"], so_id, so), "Line": orders["line"][so],
        "Order Date": col(orders["order_day"], _dates, so),
        "Account ID": col(orders["cust"], lambda x: cid[x], so),
        "Item Number": col(orders["sku"], lambda x: sku[x], so),
        "Qty Ordered": orders["qty"][so], "Unit Price": orders["price"][so],
        "Requested Date": col(orders["requested"], _dates, so),
        "Promised Date": col(orders["promised"], _dates, so),
        "Scheduled Ship Date": col(orders["scheduled"], _dates, so),
        "Line Status": col(orders["status"], lambda x: status_labels[x], so)}, orders["n"])
    del so
    li = ship["line_idx"]
    rows["erp_shipments.csv"] = _write_csv(out / "erp_shipments.csv", {
        "Shipment No": col(ship["group"], lambda g: _ids("SH-", 1000001 + g, 7)),
        "SO Number": col(orders["order_num"], so_id, li), "Line": orders["line"][li],
        "Ship Date": col(ship["day"], _dates), "Qty Shipped": ship["qty"]}, ship["n"])

    def inv_ids(sl):
        num, cn = inv["num"][sl], inv["is_cn"][sl]
        return np.where(cn, _ids("CN-", num, 6), _ids("INV-", num, 7))

    rows["erp_ar_invoices.csv"] = _write_csv(out / "erp_ar_invoices.csv", {
        "Invoice No": inv_ids, "Account ID": col(inv["cust"], lambda x: cid[x]),
        "SO Number": col(inv["order_num"], so_id), "Invoice Date": col(inv["day"], _dates),
        "Due Date": col(inv["due"], _dates), "Invoice Amount": col(inv["amount"], _thousands),
        "Paid Date": col(inv["paid_day"], _dates), "Amount Paid": col(inv["paid_amount"], _thousands)},
        inv["n"], encoding="utf-8-sig", lineterminator="\r\n")
    rows["mrp_purchase_orders.csv"] = _write_csv(out / "mrp_purchase_orders.csv", {
        "PO Number": _ids("PO-", po["po_num"], 6), "PO Line": po["line"], "Vendor ID": sid[po["supplier"]],
        "Item Number": sku[po["sku"]], "PO Date": _dates(po["day"]), "Promised Date": _dates(po["promised"]),
        "Expected Date": _dates(po["expected"]), "Qty Ordered": po["qty"], "Unit Cost": po["unit_cost"],
        "Received Date": _dates(po["recv_day"]),
        "Qty Received": pd.arrays.IntegerArray(np.where(po["received"], po["recv_qty"], 0), ~po["received"])})
    rows["erp_ap_bills.csv"] = _write_csv(out / "erp_ap_bills.csv", {
        "Bill No": bills["id"], "Vendor ID": sid[bills["supplier"]], "PO Number": _ids("PO-", bills["po_num"], 6),
        "Bill Date": _dates(bills["day"]), "Due Date": _dates(bills["due"]), "Bill Amount": bills["amount"],
        "Paid Date": _dates(bills["paid_day"])})
    invq = supply["inventory"]                                    # (week, sku, wh)
    rows["erp_inventory_weekly.csv"] = _write_csv(out / "erp_inventory_weekly.csv", {
        "Week": np.repeat(_weeks(np.arange(N_WEEKS)), S * 2), "Item Number": np.tile(np.repeat(sku, 2), N_WEEKS),
        "Warehouse": np.tile(np.array(WAREHOUSES), N_WEEKS * S), "On Hand Qty": invq.reshape(-1),
        "On Hand Value": _money(invq * products["unit_cost"][None, :, None]).reshape(-1)})
    cash = _cash(scale)
    rows["treasury_cash.csv"] = _write_csv(out / "treasury_cash.csv", {c: cash[c].to_numpy() for c in cash})

    events = _events(products, customers, suppliers, model, fc, plan, orders, ship, supply)
    (out / "planted_events.json").write_text(
        json.dumps({"company": COMPANY, "as_of": AS_OF.strftime("%Y-%m-%d"), "seed": int(seed),
                    "scale": scale, "events": events}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8")
    summary = {"company": COMPANY, "out_dir": str(out), "as_of": AS_OF.strftime("%Y-%m-%d"),
               "seed": int(seed), "scale": scale,
               "files": list(FILES) + ["planted_events.json", "README.txt"],
               "rows": rows, "planted_events": events}
    (out / "README.txt").write_text(_readme(summary, events), encoding="utf-8")
    # The overlaps real systems have (CRM bookings, MRP on-hand, GL balances) with planted mismatches.

    overlaps = add_overlaps(out, seed)
    summary["files"] += [f for f in [*overlaps.get("files", []), "planted_mismatches.json"]
                         if f not in summary["files"]]
    summary["rows"].update(overlaps.get("rows", {}))
    summary["planted_mismatches"] = overlaps.get("planted_mismatches", [])
    return summary


# --------------------------------------------------------------------------- ground truth
def _events(products, customers, suppliers, model, fc, plan, orders, ship, supply) -> list[dict]:
    sku = products["sku"]
    ds = lambda d: _dates(np.array([d]))[0]  # noqa: E731
    q4 = _week_idx("2026-W40")
    qtd = np.arange(q4, N_WEEKS)
    q4_start_day = q4 * 7

    # 1. supplier delay
    po = supply["po"]
    d = suppliers["delayed"]
    open_po = np.flatnonzero((po["supplier"] == d) & ~po["received"])
    starved = products["starved"]
    oh = supply["on_hand"]
    Fp = supply["Fp"]
    weekly = Fp[N_WEEKS - 1 - W_LO][starved] / model["bias"][starved]
    nxt = (orders["status"] == OPEN) & np.isin(orders["sku"], starved) & \
        (orders["promised"] > AS_OF_DAY) & (orders["promised"] <= AS_OF_DAY + 21)
    ev1 = {
        "type": "supplier_delay",
        "supplier_id": DELAYED_SUPPLIER,
        "supplier_name": str(suppliers["name"][d]),
        "delay_days": SUPPLIER_DELAY_DAYS,
        "skus": sku[starved].tolist(),
        "open_po_lines": [
            {"po_id": f"PO-{po['po_num'][i]:06d}", "line": int(po["line"][i]), "sku": str(sku[po["sku"][i]]),
             "promised_date": ds(po["promised"][i]), "expected_date": ds(po["expected"][i]),
             "quantity": int(po["qty"][i]), "value": round(float(po["qty"][i] * po["unit_cost"][i]), 2)}
            for i in open_po],
        "on_hand_last_4_weeks": {str(sku[s]): oh[N_WEEKS - 4:, s].astype(int).tolist() for s in starved},
        "weeks_of_cover_2026_W47": {str(sku[s]): round(float(oh[-1, s] / max(w, 1e-9)), 2)
                                    for s, w in zip(starved, weekly)},
        "open_order_lines_due_next_3_weeks": int(nxt.sum()),
        "open_order_value_due_next_3_weeks": round(float((orders["qty"][nxt] * orders["price"][nxt]).sum()), 2),
    }
    ev1["summary"] = (f"{DELAYED_SUPPLIER} open POs expected {SUPPLIER_DELAY_DAYS} days after promise; "
                      f"SKUs {', '.join(ev1['skus'])} running low with {ev1['open_order_lines_due_next_3_weeks']} "
                      "open order lines due in the next 3 weeks")

    # 2. demand spike
    sp = products["idx"][SPIKE_SKU]
    live = orders["status"] != CANCELLED
    act = np.bincount(orders["week"][live & (orders["sku"] == sp)],
                      weights=orders["qty"][live & (orders["sku"] == sp)], minlength=N_WEEKS + 1)
    spike = np.array([_week_idx(x) for x in SPIKE_WEEKS])
    lag1 = fc[spike, 0, sp]
    plan_qtd = float(plan["units"][(plan["sku"] == sp) & np.isin(plan["week"], qtd)].sum())
    ev2 = {
        "type": "demand_spike", "sku": SPIKE_SKU, "weeks": list(SPIKE_WEEKS),
        "ordered_units": {w: int(a) for w, a in zip(SPIKE_WEEKS, act[spike])},
        "forecast_lag1_units": {w: int(f) for w, f in zip(SPIKE_WEEKS, lag1)},
        "ratio_to_lag1_forecast": round(float(act[spike].sum() / lag1.sum()), 3),
        "qtd_weeks": [_weeks(np.array([q4]))[0], _weeks(np.array([N_WEEKS - 1]))[0]],
        "qtd_ordered_units": int(act[qtd].sum()),
        "qtd_forecast_lag1_units": int(fc[qtd, 0, sp].sum()),
        "qtd_plan_units": int(plan_qtd),
        "qtd_ratio_to_plan": round(float(act[qtd].sum() / plan_qtd), 3),
    }
    ev2["summary"] = (f"{SPIKE_SKU} orders {ev2['ratio_to_lag1_forecast']:.2f}x the lag-1 forecast in "
                      f"{SPIKE_WEEKS[0]}..{SPIKE_WEEKS[-1]}; quarter-to-date {ev2['qtd_ratio_to_plan']:.2f}x plan")

    # 3. production delay
    c = customers["big"]
    amount = BIG_ORDER_QTY * BIG_ORDER_PRICE
    weeks_late = (BIG_ORDER_SCHEDULED - BIG_ORDER_PROMISED).days / 7
    pen, cap = float(customers["penalty"][c]), float(customers["cap"][c])
    ev3 = {
        "type": "production_delay", "order_id": BIG_ORDER_ID, "line": 1,
        "customer_id": str(customers["id"][c]), "customer_name": str(customers["name"][c]),
        "sku": BIG_ORDER_SKU, "quantity": BIG_ORDER_QTY, "unit_price": BIG_ORDER_PRICE,
        "amount": round(amount, 2), "order_date": BIG_ORDER_DATE.strftime("%Y-%m-%d"),
        "promised_date": BIG_ORDER_PROMISED.strftime("%Y-%m-%d"),
        "scheduled_date": BIG_ORDER_SCHEDULED.strftime("%Y-%m-%d"),
        "delay_days": int((BIG_ORDER_SCHEDULED - BIG_ORDER_PROMISED).days),
        "late_penalty_pct_per_week": pen, "penalty_cap_pct": cap,
        "penalty_exposure": round(amount * min(weeks_late * pen, cap), 2),
    }
    ev3["summary"] = (f"{BIG_ORDER_ID} (${amount:,.0f}, {BIG_ORDER_SKU}, customer {ev3['customer_id']} with a "
                      f"{pen:.1%}/week penalty) promised {ev3['promised_date']}, rescheduled to "
                      f"{ev3['scheduled_date']}; penalty exposure ${ev3['penalty_exposure']:,.0f}")

    # 4. Controllers forecast bias
    ctl = products["line"] == 1
    li = ship["line_idx"]
    in_q = (ship["day"] >= q4_start_day) & (ship["day"] <= AS_OF_DAY) & ctl[orders["sku"][li]]
    shipped_rev = float((ship["qty"][in_q] * orders["price"][li][in_q]).sum())
    pm = ctl[plan["sku"]] & np.isin(plan["week"], qtd)
    plan_rev = float(plan["revenue"][pm].sum())
    ev4 = {
        "type": "forecast_bias", "product_line": "Controllers", "bias": CONTROLLERS_BIAS,
        "qtd_weeks": ev2["qtd_weeks"], "qtd_plan_revenue": round(plan_rev, 2),
        "qtd_shipped_revenue": round(shipped_rev, 2),
        "qtd_gap_pct": round(shipped_rev / plan_rev - 1, 4),
    }
    ev4["summary"] = (f"Controllers forecast/plan ~{CONTROLLERS_BIAS:.0%} high at every lag; quarter-to-date "
                      f"shipped revenue {ev4['qtd_gap_pct']:+.1%} vs plan")
    return [ev1, ev2, ev3, ev4]
