"""``soe send``: deliver a week's email over SMTP, once.

Which email: the latest finished run of the week (``--run`` picks another). If that run
is good and complete, its ``email/leadership.eml`` goes to the leadership list (analysts
in Cc when ``email.copy_analysts``); if it failed or was partial, its
``email/failure_notice.eml`` goes to the analysts only: leadership never receives
figures from a failed run, nor an earlier run's figures in its place.

Recipients, sender and SMTP settings come from the params of the ``soe send`` call
(``--set email.smtp_host=...`` overrides), so a recipient list fixed after the run needs
no re-run. The password is read only from the environment variable ``SOE_SMTP_PASSWORD``;
it is never printed, and never sent over an unencrypted connection except to a relay
on this machine (localhost).

Every delivery is recorded in the store (table ``soe_sends``). Sending the leadership
email of a week that was already sent, or the same run's failure notice twice, is
refused without ``--force``.

Exit codes: 0 sent (or ``--dry-run``); 1 delivery failed or some recipients were refused;
2 nothing was sent because of the request (already sent, no run, no recipients,
a run of the week in progress, bad params).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from soe_helpers.core import paths
from soe_helpers.core.calendar import WEEK_RE
from soe_helpers.deliver.mail import EMAIL_DIRNAME, SMTP_PASSWORD_ENV, redact, secret_values
from soe_helpers.store.engine import Store, metadata, open_store

__all__ = ["SendError", "Outgoing", "sends", "find_run", "load_outgoing", "address_message", "deliver",
           "previous_send", "record_send", "send_week", "LOCAL_HOSTS"]

#: Hosts to which a password may go without TLS (a relay on this machine).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

sends = sa.Table(
    "soe_sends",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("week", sa.String(8), nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # leadership | failure_notice
    sa.Column("subject", sa.Text),
    sa.Column("recipients", sa.Text),  # JSON list of addresses
    sa.Column("refused", sa.Text),  # JSON {address: "code message"}
    sa.Column("message_id", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False),  # sent | partial
    sa.Column("forced", sa.Boolean, nullable=False, default=False),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)


class SendError(RuntimeError):
    """Nothing was sent; ``code`` is the exit code (2 = refused by request, 1 = delivery failed)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass
class Outgoing:
    """The email chosen for a week: where it is and what it is."""

    week: str
    run_id: str
    run_dir: Path
    kind: str  # leadership | failure_notice
    path: Path
    run_status: str
    message: EmailMessage


# ---------------------------------------------------------------- choosing the run and its email


def _run_key(name: str) -> tuple[str, int]:
    stamp, _, n = name.partition("-")
    return stamp, int(n) if n.isdigit() else 1


# 20261125T090000Z (-2 ...: older runs) or 20261125T090000Z-2026-W47-3fa9c1 (runner.new_run_id)
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z(-\d+|-\d{4}-W\d{2}-[0-9a-f]{6})?$")


def _finished_runs(week_dir: Path) -> list[Path]:
    """The week's finished run folders, oldest first (not the ``latest`` link, not runs still going)."""
    runs = [p for p in week_dir.iterdir() if _RUN_ID.match(p.name) and not p.is_symlink() and p.is_dir()
            and (p / "manifest.json").is_file()]
    return sorted(runs, key=lambda p: (*_run_key(p.name), (p / "manifest.json").stat().st_mtime))


def _latest_week(outputs: Path) -> str:
    weeks = sorted((p.name for p in outputs.iterdir() if p.is_dir() and WEEK_RE.match(p.name)
                    and _finished_runs(p)), reverse=True) if outputs.is_dir() else []
    if not weeks:
        raise SendError(f"no finished run in {outputs}: run the pack first (soe run)")
    return weeks[0]


def _run_in_progress(week_dir: Path) -> int | None:
    lock = week_dir / ".lock"
    try:
        pid = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def find_run(week: str | None = None, run_id: str | None = None, outputs: Path | None = None) -> tuple[str, Path]:
    """(week, run folder) whose email ``soe send`` delivers: ``run_id``, else the week's latest finished run."""
    outputs = outputs or paths.outputs_dir()
    week = week or _latest_week(outputs)
    if not WEEK_RE.match(week):
        raise SendError(f"--week {week!r} is not an ISO week like 2026-W47")
    week_dir = outputs / week
    if not week_dir.is_dir():
        raise SendError(f"no run of {week} in {outputs}: run `soe run --week {week}` first")
    if run_id:
        run_dir = week_dir / run_id
        if not (run_dir / "manifest.json").is_file():
            known = ", ".join(p.name for p in _finished_runs(week_dir)) or "none"
            raise SendError(f"--run {run_id}: no finished run of that id in {week_dir} (finished runs: {known})")
        return week, run_dir
    pid = _run_in_progress(week_dir)
    if pid:
        raise SendError(f"a run of {week} is in progress (pid {pid}): wait for it to finish, then send")
    runs = _finished_runs(week_dir)
    if not runs:
        raise SendError(f"no finished run of {week} in {week_dir}: run `soe run --week {week}` first")
    return week, runs[-1]


def load_outgoing(week: str, run_dir: Path) -> Outgoing:
    """The email a run wrote: its leadership email when the run is good and complete, else its failure notice."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    email_dir = run_dir / EMAIL_DIRNAME
    lead, notice = email_dir / "leadership.eml", email_dir / "failure_notice.eml"
    status = manifest.get("status", "?")
    if status == "ok" and lead.is_file():
        kind, path = "leadership", lead
    elif notice.is_file():
        kind, path = "failure_notice", notice
    elif lead.is_file():
        raise SendError(f"run {run_dir.name} of {week} is marked {status!r} but has only a leadership email: "
                        "it will not be sent; re-run the week")
    else:
        raise SendError(f"run {run_dir.name} of {week} wrote no email (folder {email_dir}); re-run the week with "
                        "this version of the suite")
    msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    if msg.get("X-SOE-Kind") != kind:
        raise SendError(f"{path} is not a {kind} email of this suite (X-SOE-Kind: {msg.get('X-SOE-Kind')!r})")
    return Outgoing(week, run_dir.name, run_dir, kind, path, status, msg)


def address_message(out: Outgoing, params, now: dt.datetime | None = None) -> tuple[EmailMessage, list[str]]:
    """The message addressed from the current params: (message, envelope recipients).

    Leadership email: To = ``email.leadership``, Cc = ``email.analysts`` when ``copy_analysts``.
    Failure notice: To = ``email.analysts`` only. Date and Message-ID are set for this delivery.
    """
    e = params.email
    msg = out.message
    if out.kind == "leadership":
        to, cc = list(e.leadership), (list(e.analysts) if e.copy_analysts else [])
        if not to:
            raise SendError("email.leadership is empty: nobody to send the leadership email to (set it in params)")
    else:
        to, cc = list(e.analysts), []
        if not to:
            raise SendError("email.analysts is empty: nobody to send the failure notice to (set it in params)")
    for h in ("From", "To", "Cc", "Bcc", "Date", "Message-ID"):
        del msg[h]
    msg["From"] = e.sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.timezone.utc))
    domain = parseaddr(e.sender)[1].split("@", 1)[-1] or "soe.local"
    msg["Message-ID"] = make_msgid(idstring=f"soe.{out.week}.{out.kind}", domain=domain)
    rcpt = list(dict.fromkeys(a.lower() for _, a in getaddresses(to + cc) if a))
    return msg, rcpt


# ---------------------------------------------------------------- delivering


def deliver(msg: EmailMessage, recipients: list[str], params, password: str | None = None,
            smtp_factory: Callable | None = None) -> dict[str, str]:
    """Send ``msg`` to ``recipients`` over SMTP as params say. Returns refused recipients ({} = all accepted).

    Raises:
        SendError(code=1): connection, TLS, login or delivery failure (the message names host and port,
        never the password); every recipient refused.
    """
    e = params.email
    host, port = e.smtp_host, e.smtp_port
    where = f"{host}:{port}"
    secrets = [password] if password else []
    ctx = ssl.create_default_context()
    try:
        if smtp_factory is not None:
            smtp = smtp_factory(host, port, e.smtp_timeout_seconds)
        elif e.smtp_ssl:
            smtp = smtplib.SMTP_SSL(host, port, timeout=e.smtp_timeout_seconds, context=ctx)
        else:
            smtp = smtplib.SMTP(host, port, timeout=e.smtp_timeout_seconds)
    except (OSError, smtplib.SMTPException) as ex:
        raise SendError(f"cannot connect to the SMTP server {where}: {redact(str(ex), secrets)}", 1) from None
    try:
        with smtp:
            smtp.ehlo()
            if e.smtp_starttls and not e.smtp_ssl:
                if not smtp.has_extn("starttls"):
                    raise SendError(f"the SMTP server {where} does not offer STARTTLS; nothing was sent in clear "
                                    "(for a trusted local relay set --set email.smtp_starttls=false)", 1)
                smtp.starttls(context=ctx)
                smtp.ehlo()
            encrypted = e.smtp_ssl or e.smtp_starttls
            if password:
                if not encrypted and host.lower() not in LOCAL_HOSTS:
                    raise SendError(f"refusing to send the SMTP password to {where} over an unencrypted connection: "
                                    "enable email.smtp_starttls or email.smtp_ssl", 1)
                user = e.smtp_username or parseaddr(e.sender)[1]
                smtp.login(user, password)
            refused = smtp.send_message(msg, from_addr=parseaddr(e.sender)[1], to_addrs=recipients)
    except SendError:
        raise
    except smtplib.SMTPAuthenticationError as ex:
        raise SendError(f"the SMTP server {where} refused the login ({ex.smtp_code}); check {SMTP_PASSWORD_ENV} "
                        "and email.smtp_username", 1) from None
    except smtplib.SMTPRecipientsRefused as ex:
        detail = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in ex.recipients.items())
        raise SendError(f"the SMTP server {where} refused every recipient: {redact(detail, secrets)}", 1) from None
    except (OSError, smtplib.SMTPException, ssl.SSLError) as ex:
        raise SendError(f"delivery via {where} failed: {type(ex).__name__}: {redact(str(ex), secrets)}", 1) from None
    return {a: f"{c} {_text(m)}" for a, (c, m) in (refused or {}).items()}


def _text(m) -> str:
    return m.decode("utf-8", "replace") if isinstance(m, bytes) else str(m)


# ---------------------------------------------------------------- the store's record of sends


def previous_send(store: Store, out: Outgoing) -> dict | None:
    """The earlier send that makes this one a repeat: the week's leadership email, or this run's notice."""
    store.ensure(sends)
    q = sa.select(sends).where(sends.c.week == out.week, sends.c.kind == out.kind)
    if out.kind != "leadership":
        q = q.where(sends.c.run_id == out.run_id)
    with store.engine.connect() as c:
        row = c.execute(q.order_by(sends.c.sent_at.desc())).first()
    return dict(row._mapping) if row else None


def record_send(store: Store, out: Outgoing, msg: EmailMessage, recipients: list[str], refused: dict,
                forced: bool) -> None:
    store.ensure(sends)
    with store.engine.begin() as c:
        c.execute(sends.insert().values(
            week=out.week, run_id=out.run_id, kind=out.kind, subject=str(msg["Subject"]),
            recipients=json.dumps(recipients), refused=json.dumps(refused), message_id=str(msg["Message-ID"]),
            status="partial" if refused else "sent", forced=bool(forced),
            sent_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)))


# ---------------------------------------------------------------- the command


def _describe(out: Outgoing, msg: EmailMessage, rcpt: list[str], params, password: str | None) -> list[str]:
    e = params.email
    mode = "implicit TLS" if e.smtp_ssl else ("STARTTLS" if e.smtp_starttls else "no TLS")
    atts = [p.get_filename() for p in msg.iter_attachments() if p.get_filename() and
            p.get_content_disposition() == "attachment"]
    what = "leadership email" if out.kind == "leadership" else "failure notice (analysts only)"
    lines = [f"{what} of {out.week}, run {out.run_id} ({out.run_status})",
             f"  via:     {e.smtp_host}:{e.smtp_port} ({mode}; "
             f"{'login with the password from ' + SMTP_PASSWORD_ENV if password else 'no login'})",
             f"  From:    {msg['From']}", f"  To:      {msg['To']}"]
    if msg["Cc"]:
        lines.append(f"  Cc:      {msg['Cc']}")
    size = f"  Size:    {len(msg.as_bytes()) / 1024:.0f} KB, {len(rcpt)} recipient(s)"
    lines += [f"  Subject: {msg['Subject']}", size + (f"; attached: {', '.join(atts)}" if atts else "")]
    return lines


def send_week(params, *, week: str | None = None, run_id: str | None = None, dry_run: bool = False,
              force: bool = False, out: Callable[[str], None] = print, outputs: Path | None = None,
              store: Store | None = None, environ: dict | None = None, smtp_factory: Callable | None = None) -> int:
    """Deliver the week's email (see the module docstring). Returns the exit code; raises SendError(code) when
    nothing was sent."""
    env = os.environ if environ is None else environ
    password = env.get(SMTP_PASSWORD_ENV) or None
    secrets = secret_values(params, env)
    wk, run_dir = find_run(week, run_id, outputs)
    outgoing = load_outgoing(wk, run_dir)
    msg, rcpt = address_message(outgoing, params)
    store = store or open_store(params)
    before = previous_send(store, outgoing)
    desc = [redact(x, secrets) for x in _describe(outgoing, msg, rcpt, params, password)]
    note = None
    if before:
        what = ("the leadership email" if outgoing.kind == "leadership"
                else f"the failure notice of run {outgoing.run_id}")
        note = (f"{what} of {wk} was already sent on {before['sent_at']:%Y-%m-%d %H:%M} UTC "
                f"(run {before['run_id']}, {before['status']})")
    if dry_run:
        out("Dry run: nothing sent. Would send the " + desc[0])
        for line in desc[1:]:
            out(line)
        if note:
            out(f"  note: {note}; a real send needs --force")
        return 0
    if note and not force:
        raise SendError(f"{note}; use --force to send it again", 2)
    refused = deliver(msg, rcpt, params, password, smtp_factory=smtp_factory)
    record_send(store, outgoing, msg, rcpt, refused, force)
    accepted = [a for a in rcpt if a not in refused]
    out(f"Sent the {desc[0]} to {len(accepted)} recipient(s): {', '.join(accepted)}")
    for line in desc[1:]:
        out(line)
    if refused:
        out("Refused by the server: " + redact("; ".join(f"{a}: {m}" for a, m in refused.items()), secrets))
        return 1
    return 0

