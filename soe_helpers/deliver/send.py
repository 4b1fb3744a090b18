"""``soe send``: deliver a week's email over SMTP, once.

Which email: the week's latest full run (partial ``soe run --only`` runs are never an email's
source; ``--run`` picks a run explicitly). If that run is good and complete, its
``email/leadership.eml`` goes to the leadership list (analysts in Cc when
``email.copy_analysts``); if it failed, its ``email/failure_notice.eml`` goes to the analysts
only: leadership never receives figures from a failed run, nor an earlier run's figures in
its place. When the week's latest run never finished (killed, crashed, stopped in the
aggregates, its manifest lost), nothing is sent (exit 2): an earlier run goes out only when
``--run RUN_ID`` names it. Run states come from :mod:`soe_helpers.core.run_folder`.

Recipients, sender and SMTP settings come from the params of the ``soe send`` call
(``--set email.smtp_host=...`` overrides), so a recipient list fixed after the run needs
no re-run. The password is read only from the environment variable ``SOE_SMTP_PASSWORD``;
it is never printed, and never sent over an unencrypted connection except to a relay
on this machine (localhost).

Once per week: the send is first *claimed* in the store (a ``soe_sends`` row with status
``claimed`` and a unique claim key: the week's leadership email, or one run's failure notice),
then delivered, then *confirmed* (status ``sent`` or ``partial``). A second sender finding
the claim is refused (exit 2), whether the first is still delivering or has finished. A
delivery that failed outright (nothing accepted) removes its claim. A sender that died,
or could not write the store, between claim and confirm leaves the claim as it was: the
delivery is then unknown ("check the mailbox") and a new send needs ``--force``. Sending
the leadership email of a week that was already sent, or the same run's failure notice
twice, is refused without ``--force``.

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
import socket
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from soe_helpers.core import paths, run_folder
from soe_helpers.core.calendar import WEEK_RE
from soe_helpers.deliver.mail import SMTP_PASSWORD_ENV, redact, secret_values
from soe_helpers.store.engine import Store, open_store
from soe_helpers.store.tables import sends

__all__ = ["SendError", "Outgoing", "sends", "find_run", "load_outgoing", "address_message", "deliver",
           "previous_send", "record_send", "claim_send", "confirm_send", "release_claim", "send_week",
           "LOCAL_HOSTS", "UNKNOWN_DELIVERY"]

#: Hosts to which a password may go without TLS (a relay on this machine).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

#: What an unconfirmed claim means to the person reading the refusal.
UNKNOWN_DELIVERY = "delivery unknown: check the mailbox"


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


def _finished_runs(week_dir: Path) -> list[Path]:
    """The week's finished run folders (a manifest written), oldest first."""
    return [r.path for r in run_folder.list_runs(week_dir) if r.finished]


def _latest_week(outputs: Path) -> str:
    weeks = sorted((p.name for p in outputs.iterdir() if p.is_dir() and WEEK_RE.match(p.name)
                    and run_folder.list_runs(p)), reverse=True) if outputs.is_dir() else []
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


def _unfinished(week: str, info: run_folder.RunInfo, earlier: list[run_folder.RunInfo]) -> SendError:
    finished = [r.run_id for r in earlier if r.finished and not r.partial]
    older = (f"to send an earlier run instead, name it: `soe send --week {week} --run {finished[-1]}`"
             + (f" (finished runs: {', '.join(finished)})" if len(finished) > 1 else "")) if finished else \
        "there is no earlier finished run of the week"
    return SendError(f"the latest run of {week}, {info.run_id}, did not finish ({info.state}: {info.reason}); "
                     f"nothing was sent. Fix the cause and re-run `soe run --week {week}`, then send; {older}", 2)


def find_run(week: str | None = None, run_id: str | None = None, outputs: Path | None = None) -> tuple[str, Path]:
    """(week, run folder) whose email ``soe send`` delivers: ``run_id``, else the week's latest full run.

    Raises SendError(2) when the week's latest run (full or partial) never finished: its email
    would be stale, so an earlier run goes out only when ``run_id`` names it.
    """
    outputs = outputs or paths.outputs_dir()
    week = week or _latest_week(outputs)
    if not WEEK_RE.match(week):
        raise SendError(f"--week {week!r} is not an ISO week like 2026-W47")
    week_dir = run_folder.week_dir(week, outputs)
    if not week_dir.is_dir():
        raise SendError(f"no run of {week} in {outputs}: run `soe run --week {week}` first")
    runs = run_folder.list_runs(week_dir)
    if run_id:
        chosen = [r for r in runs if r.run_id == run_id]
        if not chosen or not chosen[0].finished:
            known = ", ".join(r.run_id for r in runs if r.finished) or "none"
            state = f" (it is {chosen[0].state}: {chosen[0].reason})" if chosen else ""
            raise SendError(f"--run {run_id}: no finished run of that id in {week_dir}{state} (finished runs: {known})")
        return week, chosen[0].path
    pid = _run_in_progress(week_dir)
    if pid:
        raise SendError(f"a run of {week} is in progress (pid {pid}): wait for it to finish, then send")
    for i in range(len(runs) - 1, -1, -1):
        info = runs[i]
        if info.state == "running":
            raise SendError(f"a run of {week} is in progress ({info.run_id}, {info.reason}): wait for it to "
                            "finish, then send")
        if not info.finished:
            raise _unfinished(week, info, runs[:i])
        if info.partial:
            continue  # a partial run (--only) adds to the records; the email comes from the latest full run
        return week, info.path
    raise SendError(f"no finished run of {week} in {week_dir}: run `soe run --week {week}` first")


def load_outgoing(week: str, run_dir: Path) -> Outgoing:
    """The email a run wrote: its leadership email when the run is good and complete, else its failure notice."""
    manifest = run_folder.read_manifest(run_dir)
    if manifest is None:
        raise SendError(f"run {run_dir.name} of {week} has no readable manifest: it did not finish; re-run the week")
    email_dir = run_folder.email_dir(run_dir)
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


def _ensure_sends(store: Store) -> None:
    """Create ``soe_sends``, or bring one made by an older suite up to date (claim columns and their index)."""
    if getattr(store, "_soe_sends_ready", False):
        return
    store.ensure(sends)
    cols = {c["name"] for c in sa.inspect(store.engine).get_columns("soe_sends")}
    with store.engine.begin() as c:
        for name, typ in (("claim_key", "VARCHAR(160)"), ("claimed_by", "VARCHAR(255)")):
            if name not in cols:
                c.execute(sa.text(f"ALTER TABLE soe_sends ADD COLUMN {name} {typ}"))
        if "claim_key" not in cols:
            c.execute(sa.text("CREATE UNIQUE INDEX IF NOT EXISTS ux_soe_sends_claim ON soe_sends (claim_key)"))
    store._soe_sends_ready = True


#: what goes out once per week (the leadership email, the chat post); a failure notice goes once per run
WEEKLY_KINDS = ("leadership", "chat")


def _claim_key(out: Outgoing) -> str:
    """One leadership email (one chat post) per week; one failure notice per run."""
    return f"{out.week}:{out.kind}" if out.kind in WEEKLY_KINDS else f"{out.week}:{out.kind}:{out.run_id}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _what(out: Outgoing) -> str:
    return "the leadership email" if out.kind == "leadership" else f"the failure notice of run {out.run_id}"


def previous_send(store: Store, out: Outgoing) -> dict | None:
    """The earlier confirmed send that makes this one a repeat: the week's leadership email, or this run's notice."""
    _ensure_sends(store)
    q = sa.select(sends).where(sends.c.week == out.week, sends.c.kind == out.kind,
                               sends.c.status.in_(["sent", "partial"]))
    if out.kind not in WEEKLY_KINDS:
        q = q.where(sends.c.run_id == out.run_id)
    with store.engine.connect() as c:
        row = c.execute(q.order_by(sends.c.sent_at.desc(), sends.c.id.desc())).first()
    return dict(row._mapping) if row else None


def _holder(store: Store, out: Outgoing) -> dict | None:
    """The row holding this send's claim key (an unconfirmed claim, or the confirmed send), or None."""
    with store.engine.connect() as c:
        row = c.execute(sa.select(sends).where(sends.c.claim_key == _claim_key(out))).first()
    return dict(row._mapping) if row else None


def _claimed_note(out: Outgoing, row: dict) -> str:
    return (f"{_what(out)} of {out.week} was claimed by another soe send ({row.get('claimed_by') or 'unknown'}, "
            f"run {row['run_id']}) on {row['sent_at']:%Y-%m-%d %H:%M:%S} UTC and never confirmed: "
            f"{UNKNOWN_DELIVERY}. If that send is still running, wait for it; if it died, look in the "
            "recipients' mailbox and send again only with --force")


def claim_send(store: Store, out: Outgoing, msg: EmailMessage, recipients: list[str], forced: bool) -> int:
    """Claim the send in ``soe_sends`` (status ``claimed``) before delivering; returns the row id.

    The claim key is unique in the database, so of two senders only one claims. ``forced`` first
    takes the key from any earlier row (a confirmed send, or an unconfirmed claim).

    Raises:
        SendError(2): another sender holds the claim (still delivering, or died: delivery unknown),
        or the week was sent meanwhile.
    """
    _ensure_sends(store)
    key = _claim_key(out)
    try:
        with store.engine.begin() as c:
            if forced:
                c.execute(sends.update().where(sends.c.claim_key == key).values(claim_key=None))
            res = c.execute(sends.insert().values(
                week=out.week, run_id=out.run_id, kind=out.kind, subject=str(msg["Subject"]),
                recipients=json.dumps(recipients), refused=None, message_id=str(msg["Message-ID"]),
                status="claimed", forced=bool(forced), sent_at=_now(), claim_key=key,
                claimed_by=f"{socket.gethostname()} pid {os.getpid()}"))
            return int(res.inserted_primary_key[0])
    except sa.exc.IntegrityError:
        row = _holder(store, out)
        if row and row["status"] == "claimed":
            raise SendError(_claimed_note(out, row), 2) from None
        when = f" on {row['sent_at']:%Y-%m-%d %H:%M} UTC (run {row['run_id']}, {row['status']})" if row else ""
        raise SendError(f"{_what(out)} of {out.week} was already sent{when}; use --force to send it again",
                        2) from None


def confirm_send(store: Store, claim_id: int, refused: dict) -> None:
    """Confirm a claimed send after delivery: status ``sent`` (or ``partial`` when some recipients were refused)."""
    with store.engine.begin() as c:
        c.execute(sends.update().where(sends.c.id == claim_id).values(
            status="partial" if refused else "sent", refused=json.dumps(refused), sent_at=_now()))


def release_claim(store: Store, claim_id: int) -> None:
    """Give a claim up when nothing was delivered (its row is removed): a plain retry may send."""
    with store.engine.begin() as c:
        c.execute(sends.delete().where((sends.c.id == claim_id) & (sends.c.status == "claimed")))


def record_send(store: Store, out: Outgoing, msg: EmailMessage, recipients: list[str], refused: dict,
                forced: bool) -> None:
    """Record a delivery made outside :func:`send_week` (claim and confirm in one step)."""
    confirm_send(store, claim_send(store, out, msg, recipients, forced), refused)


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
    wk, run_dir = find_run(week, run_id, outputs or params.outputs_dir())
    outgoing = load_outgoing(wk, run_dir)
    msg, rcpt = address_message(outgoing, params)
    store = store or open_store(params)
    before = previous_send(store, outgoing)
    desc = [redact(x, secrets) for x in _describe(outgoing, msg, rcpt, params, password)]
    note = None
    if before:
        note = (f"{_what(outgoing)} of {wk} was already sent on {before['sent_at']:%Y-%m-%d %H:%M} UTC "
                f"(run {before['run_id']}, {before['status']})")
    else:
        holder = _holder(store, outgoing)
        if holder and holder["status"] == "claimed":
            note = _claimed_note(outgoing, holder)
    if dry_run:
        out("Dry run: nothing sent. Would send the " + desc[0])
        for line in desc[1:]:
            out(line)
        if note:
            out(f"  note: {note}; a real send needs --force")
        return 0
    if note and not force:
        raise SendError(note if not before else f"{note}; use --force to send it again", 2)
    claim = claim_send(store, outgoing, msg, rcpt, force)
    try:
        refused = deliver(msg, rcpt, params, password, smtp_factory=smtp_factory)
    except SendError:  # nothing was delivered: give the claim up so that a plain retry may send
        try:
            release_claim(store, claim)
        except sa.exc.SQLAlchemyError:
            pass  # the claim stays: the next send is told the delivery is unknown
        raise
    unrecorded = None
    try:
        confirm_send(store, claim, refused)
    except sa.exc.SQLAlchemyError as e:  # delivered, but the store did not take the confirmation
        unrecorded = (str(e).splitlines() or [type(e).__name__])[0]
    accepted = [a for a in rcpt if a not in refused]
    out(f"Sent the {desc[0]} to {len(accepted)} recipient(s): {', '.join(accepted)}")
    for line in desc[1:]:
        out(line)
    if refused:
        out("Refused by the server: " + redact("; ".join(f"{a}: {m}" for a, m in refused.items()), secrets))
    if unrecorded:
        out(f"WARNING: delivered, but the store could not record the delivery ({redact(unrecorded, secrets)}); "
            f"the send stays claimed, so another soe send of {wk} is refused ({UNKNOWN_DELIVERY}) "
            "until --force")
        return 1
    return 1 if refused else 0

