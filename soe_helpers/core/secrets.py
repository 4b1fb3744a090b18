"""Secrets never shown: database URLs masked for display, secret values redacted from any text.

One owner for what counts as a secret in a URL: the password of its userinfo
(``user:PASSWORD@host``) and the value of every query parameter whose name says it is one
(``?password=``, ``pwd``, ``token``, ``api_key``, ``sig`` ... case-insensitive, also as a suffix
such as ``db_password`` or ``X-Amz-Signature``). Every place that shows a URL (the run manifest,
the action tracker, ``soe actions list``, error lines of a failed connection) shows
:func:`mask_url` of it; every text written from an error goes through :func:`redact` with the
:func:`secret_values` the environment holds.

>>> mask_url("postgresql+psycopg://soe_app:pw1@127.0.0.1:55432/soe?password=pw2&sslmode=require")
'postgresql+psycopg://soe_app:***@127.0.0.1:55432/soe?password=***&sslmode=require'
"""
from __future__ import annotations

import os
import re
from typing import Iterable, Mapping
from urllib.parse import unquote

__all__ = ["MASK", "MIN_SECRET", "SMTP_PASSWORD_ENV", "SECRET_PARAMS", "mask_url", "url_secrets", "redact", "secret_values"]

MASK = "***"
MIN_SECRET = 4  # shortest value redact() searches free text for
SMTP_PASSWORD_ENV = "SOE_SMTP_PASSWORD"

# Query parameters whose value is a secret (compared lower-case, '-' read as '_').
SECRET_PARAMS = frozenset({
    "password", "pass", "passwd", "pwd", "secret", "client_secret", "token", "access_token", "refresh_token",
    "auth_token", "id_token", "key", "api_key", "apikey", "access_key", "secret_key", "private_key", "sig",
    "signature", "credential", "credentials", "sas", "session_token",
})
_SECRET_SUFFIXES = ("_password", "_passwd", "_pwd", "_secret", "_token", "_key", "_signature", "_sig")

_SCHEME = re.compile(r"^[A-Za-z][\w+.-]*://")
# a URL inside free text: scheme://, then anything up to whitespace or a quote/bracket that closes it
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][\w+.-]*://[^\s'\"<>`]+")


def _is_secret_param(name: str) -> bool:
    n = unquote(name).strip().lower().replace("-", "_")
    return n in SECRET_PARAMS or n.endswith(_SECRET_SUFFIXES)


def _split(url: str) -> tuple[str, str, str, str, str] | None:
    """(scheme://, userinfo, host-and-path, query, fragment) of a URL, or None when it is not one.

    Split by hand rather than with urllib: SQLAlchemy URLs (``sqlite:////abs/path``) and
    passwords typed with a raw ``@`` or ``/`` in them must still be found."""
    m = _SCHEME.match(url)
    if not m:
        return None
    head, rest = m.group(0), url[m.end():]
    rest, hash_, fragment = rest.partition("#")
    rest, q, query = rest.partition("?")
    # Userinfo: a user name (no '/') then, up to the LAST '@', the password, so that a password typed
    # with a raw '@' or '/' in it is still masked whole; 'host/path/@x' has no userinfo.
    first_at, last_at = rest.find("@"), rest.rfind("@")
    if first_at != -1 and "/" not in rest[:first_at].split(":", 1)[0]:
        return head, rest[:last_at + 1], rest[last_at + 1:], q + query, hash_ + fragment
    return head, "", rest, q + query, hash_ + fragment


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo and every secret query value replaced by ``***``.

    Text that is not a URL comes back unchanged; ``None`` or ``""`` give ``""``.

    >>> mask_url("https://x.example/file.csv?SIG=abc&Token=t&week=2026-W47")
    'https://x.example/file.csv?SIG=***&Token=***&week=2026-W47'
    >>> mask_url("sqlite:////srv/soe/store.sqlite")
    'sqlite:////srv/soe/store.sqlite'
    """
    if not url:
        return ""
    url = str(url)
    parts = _split(url)
    if parts is None:
        return url
    head, userinfo, hostpath, query, fragment = parts
    if userinfo:
        user, colon, _pw = userinfo[:-1].partition(":")
        userinfo = f"{user}:{MASK}@" if colon else userinfo
    if query:
        pieces = re.split(r"([&;])", query[1:])
        for i in range(0, len(pieces), 2):
            k, eq, v = pieces[i].partition("=")
            if eq and v and _is_secret_param(k):
                pieces[i] = f"{k}={MASK}"
        query = "?" + "".join(pieces)
    return head + userinfo + hostpath + query + fragment


def url_secrets(url: str) -> list[str]:
    """The secret values inside ``url`` (userinfo password, secret query values), raw and decoded."""
    parts = _split(str(url or ""))
    if parts is None:
        return []
    _head, userinfo, _hostpath, query, _fragment = parts
    out = []
    if userinfo and ":" in userinfo:
        out.append(userinfo[:-1].partition(":")[2])
    for piece in re.split(r"[&;]", query[1:]) if query else []:
        k, eq, v = piece.partition("=")
        if eq and v and _is_secret_param(k):
            out.append(v)
    out += [unquote(v) for v in out]
    return sorted({v for v in out if v}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL in it masked (:func:`mask_url`) and each secret value replaced by ``***``.

    Args:
        text: any message (an error line, a log, a rendered report).
        secrets: values that must not appear, e.g. :func:`secret_values`; the longest go first so
            that a URL is replaced whole before the password inside it. A value shorter than
            :data:`MIN_SECRET` characters is not searched for (replacing every ``ab`` would garble
            the text); inside a URL it is masked all the same.
    """
    out = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), str(text))
    for s in sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True):
        out = out.replace(s, MASK)
    return out


def secret_values(params, environ: Mapping[str, str] | None = None) -> list[str]:
    """Values that must never appear in any output: the SMTP password and every database URL
    (store and SQL sources) with the secrets inside it, from the environment variables params name.

    Values shorter than :data:`MIN_SECRET` characters are left out (replacing every ``ab`` in a report would garble it).
    """
    env = os.environ if environ is None else environ
    names = {SMTP_PASSWORD_ENV, params.store.url_env or ""}
    names |= {s.url_env for s in params.data.sources.values() if getattr(s, "url_env", None)}
    out = []
    for n in sorted(x for x in names if x):
        v = env.get(n)
        if not v:
            continue
        out.append(v)
        out += url_secrets(v)
    return sorted({v for v in out if len(v) >= MIN_SECRET}, key=len, reverse=True)
