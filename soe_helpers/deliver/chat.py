"""The team's chat: ``soe send --chat`` posts the week to a Slack or Microsoft Teams channel.

The post is short: the headline, the items that need action (the executive summary's red items, largest
first, at most ``chat.max_items``) and a link to the summary when ``email.report_url`` is set. It goes
through an incoming webhook whose URL is read from the environment variable ``chat.webhook_url_env``
(default ``SOE_CHAT_WEBHOOK_URL``): the URL is a secret and never printed, logged or written.

The same rules as the email apply (:mod:`soe_helpers.deliver.send`): the week's latest finished run is
posted, never an earlier one in place of a run that did not finish; a failed run posts a failure note with
no figures; each post is claimed in ``soe_sends`` before it is made and confirmed after, once per week
(``--force`` to post again); a post that fails outright releases its claim.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Callable

import sqlalchemy as sa

from soe_helpers.core import run_folder
from soe_helpers.core.secrets import redact, secret_values
from soe_helpers.deliver import send as sd
from soe_helpers.store.engine import open_store

__all__ = ["chat_text", "chat_payload", "post_webhook", "post_chat_week"]


def _results(run_dir) -> dict:
    try:
        return json.loads(run_folder.results_path(run_dir).read_text())
    except (OSError, ValueError):
        return {}


def chat_text(run_dir, manifest: dict, params) -> tuple[str, str]:
    """(kind, text) of the post for a finished run: ``chat`` with the headline and the red items of a good
    run, ``chat_failure`` naming what failed (no figures) for any other."""
    week, run_id = manifest.get("week", "?"), manifest.get("run_id", run_dir.name)
    if manifest.get("status") != "ok" or manifest.get("partial"):
        failed = [n.get("name") for n in manifest.get("notebooks", []) if n.get("status") != "ok"]
        why = f"failed: {', '.join(failed)}" if failed else "did not complete every report"
        return "chat_failure", (f"S&OE {week}: this week's run {run_id} {why}. No figures are posted until a "
                                "run succeeds; the analysts have the failure notice.")
    res = _results(run_dir)
    summ = res.get("executive_summary") or {}
    head = summ.get("headline") or "the weekly pack is ready"
    reds = [i for i in (summ.get("items") or []) if i.get("light") == "red"][: params.chat.max_items]
    lines = [f"*S&OE {week}: {head}*" if params.chat.format == "slack" else f"**S&OE {week}: {head}**"]
    if reds:
        lines.append(f"Needs action ({len(reds)}):")
        lines += [f"• {i.get('topic')}: {i.get('sentence')}" for i in reds]
    tpl = params.email.report_url
    if tpl:
        lines.append(f"Summary: {tpl.format(week=week, run_id=run_id, report='executive_summary')}")
    else:
        lines.append(f"Reports: run {run_id} (set email.report_url to link them here)")
    return "chat", "\n".join(lines)


def chat_payload(text: str, fmt: str) -> dict:
    """The webhook body: Slack ``{"text": ...}`` (mrkdwn); Teams a MessageCard with the same text."""
    if fmt == "teams":
        return {"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": text.splitlines()[0],
                "text": text.replace("\n", "\n\n")}
    return {"text": text}


def post_webhook(url: str, payload: dict, timeout: float) -> None:
    """POST ``payload`` as JSON; raises :class:`~soe_helpers.deliver.send.SendError` (1) naming the status, never
    the URL (it carries the channel's secret)."""
    req = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - the company's own webhook
            if r.status >= 300:
                raise sd.SendError(f"the chat webhook answered HTTP {r.status}; nothing was posted", 1)
    except urllib.error.HTTPError as e:
        raise sd.SendError(f"the chat webhook answered HTTP {e.code} {e.reason}; nothing was posted", 1) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise sd.SendError(f"the chat webhook could not be reached ({type(e).__name__}: {reason}); nothing was "
                           "posted", 1) from None


def post_chat_week(params, *, week: str | None = None, run_id: str | None = None, dry_run: bool = False,
                   force: bool = False, out: Callable[[str], None] = print, outputs=None, store=None,
                   environ: dict | None = None) -> int:
    """Post the week to the team's chat (see the module docstring). Returns the exit code; raises SendError."""
    env = os.environ if environ is None else environ
    name = params.chat.webhook_url_env
    url = env.get(name) or ""
    secrets = secret_values(params, env) + ([url] if url else [])
    wk, run_dir = sd.find_run(week, run_id, outputs or params.outputs_dir())
    manifest = run_folder.read_manifest(run_dir)
    if manifest is None:
        raise sd.SendError(f"run {run_dir.name} of {wk} has no readable manifest: it did not finish; re-run the week", 2)
    kind, text = chat_text(run_dir, {**manifest, "run_id": run_dir.name}, params)
    if dry_run:
        out(f"Dry run: nothing posted. Would post to the {params.chat.format} webhook in ${name} "
            f"({'set' if url else 'NOT set'}):")
        out(redact(text, secrets))
        return 0
    if not url:
        raise sd.SendError(f"no chat webhook: set the environment variable {name} to the channel's incoming-webhook "
                           "URL (chat.webhook_url_env)", 2)
    msg = EmailMessage()
    msg["Subject"] = text.splitlines()[0].strip("*")
    msg["Message-ID"] = f"<soe.{wk}.{kind}.{run_dir.name}@chat>"
    outgoing = sd.Outgoing(wk, run_dir.name, run_dir, kind, run_dir, manifest.get("status", "?"), msg)
    store = store or open_store(params)
    before = sd.previous_send(store, outgoing)
    if before and not force:
        raise sd.SendError(f"the chat post of {wk} was already made on {before['sent_at']:%Y-%m-%d %H:%M} UTC "
                           f"(run {before['run_id']}); use --force to post it again", 2)
    claim = sd.claim_send(store, outgoing, msg, [f"chat:{params.chat.format}"], force)
    try:
        post_webhook(url, chat_payload(text, params.chat.format), params.chat.timeout_seconds)
    except sd.SendError as e:
        try:
            sd.release_claim(store, claim)
        except sa.exc.SQLAlchemyError:
            pass  # the claim stays: the next post is told the delivery is unknown
        raise sd.SendError(redact(str(e), secrets), e.code) from None
    sd.confirm_send(store, claim, {})
    out(f"Posted {'the week' if kind == 'chat' else 'the failure note'} of {wk} (run {run_dir.name}) to the "
        f"{params.chat.format} channel.")
    return 0
