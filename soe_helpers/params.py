"""Company settings and run overrides: load, merge, validate once, with errors that name the key.

A run's params are ``params/company.yaml``, then any ``--params FILE`` deep-merged on
top, then ``--set dotted.key=value`` overrides (values parsed as YAML scalars, so
``--set materiality.abs=10000`` is a number and ``--set email.smtp_starttls=false`` a
boolean). The result is validated against the models below: an unknown key, a wrong
type or a missing value raises :class:`ParamsError` listing every problem with its
dotted key. Secrets never live here: database URLs and passwords are read from the
environment variables that params *name* (``url_env``).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import paths
from .schemas import SCHEMAS

__all__ = [
    "ParamsError",
    "Params",
    "Source",
    "load_params",
    "apply_sets",
    "deep_merge",
    "params_from_json",
]


class ParamsError(ValueError):
    """Params are invalid; ``problems`` lists one line per problem, each naming its key."""

    def __init__(self, problems: list[str], origin: str = "params"):
        self.problems = problems
        self.origin = origin
        super().__init__(f"{origin} are invalid:\n" + "\n".join(f"  - {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Company(_Strict):
    name: str
    currency: str = "USD"
    currency_symbol: str = "$"


class CalendarParams(_Strict):
    type: Literal["iso", "4-4-5", "4-5-4", "5-4-4"] = "iso"


class Materiality(_Strict):
    """A variance is material when |variance| > abs (currency) and/or |variance| / |base| > pct."""

    abs: float = Field(5000.0, ge=0)
    pct: float = Field(0.05, ge=0, le=10)
    rule: Literal["either", "both"] = "either"


class Source(_Strict):
    """Where one canonical table comes from: a file or a SQL query, plus a column mapping.

    ``columns`` maps canonical column -> the source's own header. ``url_env`` names the
    environment variable holding the database URL (the URL itself never goes in params).
    """

    file: str | None = None
    query: str | None = None
    url_env: str | None = None
    sheet: str | int | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    date_format: str | None = None
    header_row: int | None = Field(None, ge=1, description="1-based row of the header when title rows sit above it")

    @model_validator(mode="after")
    def _one_origin(self):
        if bool(self.file) == bool(self.query):
            raise ValueError("give exactly one of 'file' or 'query'")
        if self.query and not self.url_env:
            raise ValueError("a 'query' source needs 'url_env', the environment variable holding the database URL")
        return self


class DataParams(_Strict):
    dir: str = "data/demo"
    as_of: dt.date | None = None
    sources: dict[str, Source]

    @field_validator("sources")
    @classmethod
    def _known_tables(cls, v: dict[str, Source]):
        unknown = sorted(set(v) - set(SCHEMAS))
        if unknown:
            raise ValueError(f"unknown table(s) {', '.join(unknown)}; known tables: {', '.join(SCHEMAS)}")
        for name, src in v.items():
            bad = sorted(set(src.columns) - set(SCHEMAS[name].column_names))
            if bad:
                raise ValueError(
                    f"{name}.columns maps unknown canonical column(s) {', '.join(bad)}; "
                    f"{name} has: {', '.join(SCHEMAS[name].column_names)}"
                )
        missing = sorted(n for n, s in SCHEMAS.items() if s.required and n not in v)
        if missing:
            raise ValueError(f"missing source(s) for required table(s): {', '.join(missing)}")
        return v


class StoreParams(_Strict):
    """The week-over-week store. ``url_env`` names an environment variable with a SQLAlchemy URL
    (e.g. a shared PostgreSQL); when it is unset, an embedded SQLite file at ``path`` is used."""

    url_env: str = "SOE_STORE_URL"
    path: str = "soe_store.sqlite"  # relative to the outputs folder


class RunParams(_Strict):
    kernel: str = "soe"
    timeout_seconds: int = Field(1200, ge=10, description="per-notebook time limit")
    max_parallel: int = Field(0, ge=0, description="0 = one per CPU core")
    log_output: bool = False


class ReconciliationParams(_Strict):
    top_n: int = Field(15, ge=1, le=500)


class EmailParams(_Strict):
    """The weekly email (built by every run) and its delivery with ``soe send``.

    The SMTP password is never a setting: ``soe send`` reads it from the environment
    variable ``SOE_SMTP_PASSWORD`` only (no password set = no SMTP login).
    """

    smtp_host: str = "localhost"
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = True      # upgrade with STARTTLS; fails rather than sending in clear if refused
    smtp_ssl: bool = False          # implicit TLS from the first byte (usually port 465)
    smtp_username: str | None = None  # default: the sender's address
    smtp_timeout_seconds: int = Field(60, ge=1, le=600)
    sender: str = "S&OE weekly pack <soe@example.com>"
    reply_to: str | None = None
    leadership: list[str] = Field(default_factory=list)
    analysts: list[str] = Field(default_factory=list)
    copy_analysts: bool = True      # analysts in Cc of the leadership email
    subject_prefix: str = "S&OE"
    attach_reports: bool = True     # attach the full HTML reports
    report_url: str | None = None   # or link them: e.g. https://reports.example.com/{week}/{run_id}/{report}.html
    max_html_kb: int = Field(100, ge=10, le=1000)
    max_attachments_mb: float = Field(15.0, gt=0, le=100)

    @field_validator("sender", "reply_to", "leadership", "analysts")
    @classmethod
    def _addresses(cls, v):
        from email.utils import parseaddr

        for a in [v] if isinstance(v, str) else (v or []):
            addr = parseaddr(a)[1]
            if not addr or "@" not in addr or addr.startswith("@") or addr.endswith("@") or " " in addr:
                raise ValueError(f"{a!r} is not an email address like 'Name <name@example.com>'")
        return v

    @field_validator("report_url")
    @classmethod
    def _url(cls, v):
        if v and (not v.startswith(("https://", "http://")) or "{report}" not in v):
            raise ValueError("expected an http(s) URL containing {report} (and optionally {week}, {run_id}), "
                             "e.g. https://reports.example.com/{week}/{run_id}/{report}.html")
        return v

    @model_validator(mode="after")
    def _one_tls_mode(self):
        if self.smtp_ssl and self.smtp_starttls:
            raise ValueError("smtp_ssl (implicit TLS) and smtp_starttls exclude each other: set one to false")
        return self


class ExecutiveSummaryParams(_Strict):
    """Rules the executive summary uses for its traffic lights (each stated in the report)."""

    top_variances: int = Field(3, ge=0, le=20)       # material variances named in the summary and email
    cash_watch_margin: float = Field(0.25, ge=0, le=10)  # amber when the low point is within this share above min cash
    accuracy_watch_points: float = Field(0.02, ge=0, le=1)  # amber when the score is this close below target


class Params(_Strict):
    company: Company
    calendar: CalendarParams = Field(default_factory=CalendarParams)
    materiality: Materiality = Field(default_factory=Materiality)
    data: DataParams
    store: StoreParams = Field(default_factory=StoreParams)
    run: RunParams = Field(default_factory=RunParams)
    reconciliation: ReconciliationParams = Field(default_factory=ReconciliationParams)
    email: EmailParams = Field(default_factory=EmailParams)
    executive_summary: ExecutiveSummaryParams = Field(default_factory=ExecutiveSummaryParams)
    notebooks: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-notebook papermill parameters; keys are checked against each notebook's parameters cell",
    )

    def data_dir(self) -> Path:
        return paths.resolve(self.data.dir)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


# ---------------------------------------------------------------- loading


def deep_merge(base: dict, override: dict) -> dict:
    """A new dict: ``override`` merged into ``base`` recursively (override wins on leaves)."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_sets(raw: dict, sets: list[str]) -> dict:
    """Apply ``dotted.key=value`` overrides; the value is parsed as a YAML scalar."""
    out = copy.deepcopy(raw)
    problems = []
    for s in sets or []:
        if "=" not in s:
            problems.append(f"--set {s!r}: expected key=value, e.g. materiality.abs=10000")
            continue
        key, _, value = s.partition("=")
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            problems.append(f"--set {s!r}: the key is empty or has an empty part")
            continue
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = parsed
    if problems:
        raise ParamsError(problems, "overrides")
    return out


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParamsError([f"file not found: {path}"], "params") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ParamsError([f"{path}: not valid YAML: {e}"], "params") from None
    if not isinstance(data, dict):
        raise ParamsError([f"{path}: expected a mapping of settings at the top level"], "params")
    return data


def _format_errors(err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}': not a setting (check the spelling; see params/company.yaml)")
        elif e["type"] == "missing":
            lines.append(f"missing value for '{key}'")
        else:
            got = e.get("input")
            shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
            lines.append(f"'{key}': {e['msg']}{shown}" if key else f"{e['msg']}")
    return lines


def load_params(
    files: list[str | Path] | None = None,
    sets: list[str] | None = None,
    data_dir: str | Path | None = None,
) -> Params:
    """Resolve and validate a run's params.

    Args:
        files: YAML files merged in order; default ``params/company.yaml``. Pass the
            company file first and a run's ``--params FILE`` after it.
        sets: ``dotted.key=value`` overrides applied last.
        data_dir: ``--data-dir``: read every file source from this folder (default: the
            ``SOE_DATA_DIR`` environment variable, then ``data.dir``).
    Returns:
        The validated :class:`Params`.
    Raises:
        ParamsError: listing every unknown key, wrong type or missing value.
    """
    files = list(files) if files else [paths.params_dir() / "company.yaml"]
    raw: dict = {}
    for f in files:
        raw = deep_merge(raw, _read_yaml(paths.resolve(f)))
    raw = apply_sets(raw, sets or [])
    if data_dir is None and os.environ.get("SOE_DATA_DIR"):
        data_dir = os.environ["SOE_DATA_DIR"]  # lets an interactive kernel or a test point at other exports
    if data_dir is not None:
        raw.setdefault("data", {})["dir"] = str(Path(data_dir).expanduser().resolve())
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        raise ParamsError(_format_errors(e)) from None


def params_from_json(path: str | Path) -> Params:
    """Reload params a run resolved and saved (``params.json`` in the run folder)."""
    return Params.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
