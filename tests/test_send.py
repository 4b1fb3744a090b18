"""``soe send``: delivery to a real local SMTP server (aiosmtpd), once per week, failure notices, secrets."""
from __future__ import annotations

import email
import json
import socket
import smtplib
from email import policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import DEMO_WEEK, copy_demo, private_outputs, soe, SMTP_SECRET, DB_SECRET
from soe_helpers.deliver import send as sd
from soe_helpers.deliver.mail import build_run_email
from soe_helpers.core.params import load_params
from soe_helpers.store.engine import Store
from soe_helpers.store.tables import sends
from test_email_pack import EVIL, PACK_NOTEBOOKS, WEEK, check_leadership_eml, make_run

LEADERS = ["cfo@kestrel.example", "coo@kestrel.example", "vp.sales@kestrel.example"]
ANALYSTS = ["fpa@kestrel.example"]


class Inbox:
    """An aiosmtpd handler keeping every delivered message; refuses the addresses in ``reject``."""

    def __init__(self, reject=(), password: str = "right-password"):
        self.messages: list[dict] = []
        self.reject = set(reject)
        self.password = password.encode()
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content})
        return "250 OK: queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login, auth_data.password))
            ok = auth_data.password == self.password
            return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself
        return AuthResult(success=False, handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp_server():
    """A real SMTP server on localhost (no TLS, AUTH allowed in clear because it is local)."""
    servers = []

    def start(reject=(), auth=False, password="right-password"):
        inbox = Inbox(reject, password)
        kw = {"auth_require_tls": False, "authenticator": inbox.authenticate} if auth else {}
        ctl = Controller(inbox, hostname="127.0.0.1", port=_free_port(), **kw)
        ctl.start()
        servers.append(ctl)
        return inbox, ctl.port

    yield start
    for ctl in servers:
        ctl.stop()


def local(port: int, *more: str):
    return load_params(sets=["email.smtp_host=127.0.0.1", f"email.smtp_port={port}", "email.smtp_starttls=false",
                             *more])


def received(inbox: Inbox, i: int = -1) -> email.message.EmailMessage:
    return email.message_from_bytes(inbox.messages[i]["data"], policy=policy.default)


def sends_rows(store: Store) -> list[dict]:
    store.ensure(sends)
    with store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(sends).order_by(sends.c.id))]


@pytest.fixture()
def good_run(tmp_path):
    out = tmp_path / "outputs"
    run_dir, manifest = make_run(out)
    build_run_email(run_dir, manifest, load_params(), expected=PACK_NOTEBOOKS, previous={})
    return out, run_dir, Store(f"sqlite:///{tmp_path / 'store.sqlite'}")


# ---------------------------------------------------------------- delivery


def test_send_delivers_the_leadership_email_once(smtp_server, good_run, tmp_path):
    inbox, port = smtp_server()
    out, run_dir, store = good_run
    said = []
    assert sd.send_week(local(port), outputs=out, store=store, out=said.append, environ={}) == 0
    (m,) = inbox.messages
    assert m["from"] == "soe@kestrel.example" and sorted(m["to"]) == sorted(LEADERS + ANALYSTS)
    raw = tmp_path / "received.eml"
    raw.write_bytes(m["data"])
    msg, doc = check_leadership_eml(raw)  # intact after a real SMTP hop
    assert msg["Subject"] == "S&OE 2026-W47: no decisions; Q4 lands $9.5M vs $10.0M plan; cash low $1.23M in 2027-W05"
    assert msg["To"] == ", ".join(f"{n} <{a}>" for n, a in zip(["Dana Whitfield", "Raj Patel", "Maria Lopez"], LEADERS))
    assert "&lt;script&gt;" in doc and EVIL not in doc
    assert said[0].startswith("Sent the leadership email of 2026-W47, run 20261125T120000Z (ok) to 4 recipient(s)")
    # the same week again: refused without --force, nothing delivered, then sent with --force
    with pytest.raises(sd.SendError, match="already sent on .* use --force") as e:
        sd.send_week(local(port), outputs=out, store=store, out=said.append, environ={})
    assert e.value.code == 2 and len(inbox.messages) == 1
    assert sd.send_week(local(port), week=WEEK, force=True, outputs=out, store=store, out=said.append, environ={}) == 0
    assert len(inbox.messages) == 2
    rows = sends_rows(store)
    assert [(r["kind"], r["status"], r["forced"]) for r in rows] == [("leadership", "sent", False),
                                                                    ("leadership", "sent", True)]
    assert json.loads(rows[0]["recipients"]) == LEADERS + ANALYSTS


def test_dry_run_sends_and_records_nothing(smtp_server, good_run):
    inbox, port = smtp_server()
    out, _, store = good_run
    said = []
    assert sd.send_week(local(port), dry_run=True, outputs=out, store=store, out=said.append, environ={}) == 0
    assert inbox.messages == [] and sends_rows(store) == []
    text = "\n".join(said)
    assert text.startswith("Dry run: nothing sent. Would send the leadership email of 2026-W47")
    assert "127.0.0.1:" in text and "no TLS; no login" in text and "Cc:      FP&A team <fpa@kestrel.example>" in text
    assert text.endswith("attached: weekly_pack_2026-W47.html")  # one attachment: every report in one page


def test_a_failed_latest_run_sends_the_notice_to_analysts_only(smtp_server, tmp_path):
    inbox, port = smtp_server()
    out = tmp_path / "outputs"
    good_dir, good = make_run(out, run_id="20261125T090000Z")
    build_run_email(good_dir, good, load_params(), expected=PACK_NOTEBOOKS, previous={})
    bad_dir, bad = make_run(out, run_id="20261125T100000Z", failed={"cash_impact": "KeyError: 'amount'"})
    build_run_email(bad_dir, bad, load_params(), expected=PACK_NOTEBOOKS, previous={})
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    assert sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={}) == 0
    (m,) = inbox.messages
    assert m["to"] == ANALYSTS  # never the leadership list, never the earlier good run's figures
    msg = received(inbox)
    assert msg["X-SOE-Kind"] == "failure_notice" and msg["X-SOE-Run"] == "20261125T100000Z"
    assert "cash_impact: KeyError: 'amount'" in msg.get_content() and "$" not in msg.get_content()
    with pytest.raises(sd.SendError, match="failure notice of run 20261125T100000Z"):
        sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={})
    # the analysts can still deliberately send the earlier good run
    assert sd.send_week(local(port), run_id="20261125T090000Z", outputs=out, store=store, out=lambda s: None,
                        environ={}) == 0
    assert sorted(inbox.messages[-1]["to"]) == sorted(LEADERS + ANALYSTS)


def test_recipients_come_from_the_params_of_the_send(smtp_server, good_run):
    inbox, port = smtp_server()
    out, _, store = good_run
    p = local(port, 'email.leadership=["New CFO <new.cfo@kestrel.example>"]', "email.copy_analysts=false")
    sd.send_week(p, outputs=out, store=store, out=lambda s: None, environ={})
    assert inbox.messages[0]["to"] == ["new.cfo@kestrel.example"]
    assert received(inbox)["To"] == "New CFO <new.cfo@kestrel.example>" and received(inbox)["Cc"] is None
    with pytest.raises(sd.SendError, match="email.leadership is empty"):
        sd.send_week(local(port, "email.leadership=[]"), force=True, outputs=out, store=store, out=lambda s: None,
                     environ={})


def test_a_refused_recipient_is_reported_and_recorded_as_partial(smtp_server, good_run):
    inbox, port = smtp_server(reject={"coo@kestrel.example"})
    out, _, store = good_run
    said = []
    assert sd.send_week(local(port), outputs=out, store=store, out=said.append, environ={}) == 1
    assert sorted(inbox.messages[0]["to"]) == sorted(["cfo@kestrel.example", "vp.sales@kestrel.example"] + ANALYSTS)
    assert any("coo@kestrel.example: 550" in s for s in said)
    (row,) = sends_rows(store)
    assert row["status"] == "partial" and "coo@kestrel.example" in json.loads(row["refused"])


def test_login_uses_the_password_from_the_environment_only(smtp_server, good_run, capsys):
    inbox, port = smtp_server(auth=True)
    out, _, store = good_run
    said = []
    env = {"SOE_SMTP_PASSWORD": "right-password"}
    assert sd.send_week(local(port, "email.smtp_username=soe-bot"), outputs=out, store=store, out=said.append,
                        environ=env) == 0
    assert inbox.logins == [(b"soe-bot", b"right-password")] and len(inbox.messages) == 1
    assert "right-password" not in "\n".join(said) + capsys.readouterr().out
    assert "login with the password from SOE_SMTP_PASSWORD" in "\n".join(said)
    assert b"right-password" not in inbox.messages[0]["data"]
    with pytest.raises(sd.SendError, match="refused the login") as e:
        sd.send_week(local(port), force=True, outputs=out, store=store, out=said.append,
                     environ={"SOE_SMTP_PASSWORD": "wrong-password"})
    assert e.value.code == 1 and "wrong-password" not in str(e.value)


def test_no_password_in_clear_to_a_remote_server_and_no_silent_tls_downgrade(smtp_server, good_run):
    inbox, port = smtp_server(auth=True)
    out, _, store = good_run
    to_local = lambda host, p, timeout: smtplib.SMTP("127.0.0.1", port, timeout=timeout)  # noqa: E731
    remote = load_params(sets=["email.smtp_host=mail.example.com", f"email.smtp_port={port}",
                               "email.smtp_starttls=false"])
    with pytest.raises(sd.SendError, match="refusing to send the SMTP password to mail.example.com"):
        sd.send_week(remote, outputs=out, store=store, out=lambda s: None, environ={"SOE_SMTP_PASSWORD": "x" * 8},
                     smtp_factory=to_local)
    tls = load_params(sets=["email.smtp_host=127.0.0.1", f"email.smtp_port={port}"])  # STARTTLS on (the default)
    with pytest.raises(sd.SendError, match="does not offer STARTTLS; nothing was sent in clear") as e:
        sd.send_week(tls, outputs=out, store=store, out=lambda s: None, environ={})
    assert e.value.code == 1 and inbox.messages == [] and inbox.logins == [] and sends_rows(store) == []


def test_errors_name_what_to_do(tmp_path, good_run):
    out, run_dir, store = good_run
    with pytest.raises(sd.SendError, match="cannot connect to the SMTP server 127.0.0.1:") as e:
        sd.send_week(local(_free_port()), outputs=out, store=store, out=lambda s: None, environ={})
    assert e.value.code == 1
    with pytest.raises(sd.SendError, match="no run of 2026-W40"):
        sd.send_week(local(25), week="2026-W40", outputs=out, store=store, out=lambda s: None, environ={})
    with pytest.raises(sd.SendError, match="--run nope: no finished run"):
        sd.send_week(local(25), run_id="nope", outputs=out, store=store, out=lambda s: None, environ={})
    with pytest.raises(sd.SendError, match="no finished run in"):
        sd.send_week(local(25), outputs=tmp_path / "empty", store=store, out=lambda s: None, environ={})
    (run_dir.parent / ".lock").write_text(f"{__import__('os').getpid()}\n")
    with pytest.raises(sd.SendError, match="is in progress"):
        sd.send_week(local(25), outputs=out, store=store, out=lambda s: None, environ={})


# ---------------------------------------------------------------- the latest run died: nothing is sent


def _good_then(out, tmp_path):
    """A good full run of the week (09:00) with its email, and the store; the test adds a later run."""
    good_dir, good = make_run(out, run_id="20261125T090000Z")
    build_run_email(good_dir, good, load_params(), expected=PACK_NOTEBOOKS, previous={})
    return good_dir, Store(f"sqlite:///{tmp_path / 'store.sqlite'}")


def _refuses_then_sends_the_named_run(port, inbox, out, store, dead_id):
    with pytest.raises(sd.SendError) as e:
        sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={})
    msg = str(e.value)
    assert e.value.code == 2, msg
    assert f"the latest run of {WEEK}, {dead_id}, did not finish" in msg and "nothing was sent" in msg, msg
    assert f"soe run --week {WEEK}" in msg and f"--run 20261125T090000Z" in msg, msg
    assert inbox.messages == [] and sends_rows(store) == []
    with pytest.raises(sd.SendError, match=f"--run {dead_id}: no finished run of that id"):
        sd.send_week(local(port), run_id=dead_id, outputs=out, store=store, out=lambda s: None, environ={})
    # the earlier good run goes out only when named
    assert sd.send_week(local(port), run_id="20261125T090000Z", outputs=out, store=store, out=lambda s: None,
                        environ={}) == 0
    assert len(inbox.messages) == 1 and received(inbox)["X-SOE-Run"] == "20261125T090000Z"


def test_a_killed_latest_run_is_not_replaced_by_the_previous_one(smtp_server, tmp_path):
    inbox, port = smtp_server()
    out = tmp_path / "outputs"
    _, store = _good_then(out, tmp_path)
    dead = out / WEEK / "20261125T100000Z"  # killed mid-way: snapshot and params written, no manifest
    (dead / "data").mkdir(parents=True)
    (dead / "params.json").write_text("{}")
    (dead / "started.json").write_text(json.dumps({"run_id": dead.name, "week": WEEK, "pid": 999_999_999,
                                                   "host": socket.gethostname(), "partial": False}))
    store.start_run(dead.name, WEEK, dead)  # the store still says running
    assert [r["status"] for r in store.list_runs(WEEK)] == ["running"]
    _refuses_then_sends_the_named_run(port, inbox, out, store, dead.name)


def test_a_run_failed_in_the_aggregates_is_not_replaced_by_the_previous_one(smtp_server, tmp_path):
    inbox, port = smtp_server()
    out = tmp_path / "outputs"
    _, store = _good_then(out, tmp_path)
    dead = out / WEEK / "20261125T100000Z"
    (dead / "data").mkdir(parents=True)
    (dead / "FAILED").write_text("This run stopped before any report ran:\nbooked_weekly does not tie out\n")
    _refuses_then_sends_the_named_run(port, inbox, out, store, dead.name)


def test_a_run_whose_manifest_was_deleted_is_not_replaced_by_the_previous_one(smtp_server, tmp_path):
    inbox, port = smtp_server()
    out = tmp_path / "outputs"
    _, store = _good_then(out, tmp_path)
    later, manifest = make_run(out, run_id="20261125T100000Z")
    build_run_email(later, manifest, load_params(), expected=PACK_NOTEBOOKS, previous={})
    (later / "manifest.json").unlink()
    _refuses_then_sends_the_named_run(port, inbox, out, store, later.name)


def test_a_later_partial_run_is_not_the_email_source(smtp_server, tmp_path):
    inbox, port = smtp_server()
    out = tmp_path / "outputs"
    _, store = _good_then(out, tmp_path)
    part, manifest = make_run(out, run_id="20261125T100000Z", missing=tuple(PACK_NOTEBOOKS[1:]))
    manifest["partial"] = True
    (part / "manifest.json").write_text(json.dumps(manifest))
    build_run_email(part, manifest, load_params(), expected=PACK_NOTEBOOKS, previous={})
    assert sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={}) == 0
    assert received(inbox)["X-SOE-Run"] == "20261125T090000Z" and received(inbox)["X-SOE-Kind"] == "leadership"


# ---------------------------------------------------------------- once per week: claim, deliver, confirm


def test_two_concurrent_sends_deliver_once(smtp_server, good_run, tmp_path):
    import threading
    import time

    inbox, port = smtp_server()
    out, _, _ = good_run
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    slow = sd.deliver

    def deliver_slowly(*a, **kw):  # the first sender is still delivering when the second one claims
        time.sleep(0.5)
        return slow(*a, **kw)

    results: dict[int, object] = {}
    gate = threading.Barrier(2, timeout=30)

    def sender(i):
        store = Store(url)  # each sender its own connection pool, as two processes would have
        gate.wait()
        try:
            results[i] = sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={})
        except sd.SendError as e:
            results[i] = e

    import unittest.mock as mock

    with mock.patch.object(sd, "deliver", deliver_slowly):
        threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(2)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a sender hung"
        assert time.monotonic() - t0 < 60
    codes = sorted(r if isinstance(r, int) else r.code for r in results.values())
    assert codes == [0, 2], results
    (refusal,) = [r for r in results.values() if isinstance(r, sd.SendError)]
    assert "claimed by another soe send" in str(refusal) or "already sent" in str(refusal), str(refusal)
    assert len(inbox.messages) == 1
    assert [(r["status"], r["claim_key"]) for r in sends_rows(Store(url))] == [("sent", f"{WEEK}:leadership")]


def test_the_claim_is_unique_in_the_database(good_run, tmp_path):
    out, run_dir, store = good_run
    outgoing = sd.load_outgoing(WEEK, run_dir)
    msg, rcpt = sd.address_message(outgoing, load_params())
    first = sd.claim_send(store, outgoing, msg, rcpt, False)
    other = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")  # a second sender past its checks, claiming too
    with pytest.raises(sd.SendError, match="claimed by another soe send .* never confirmed") as e:
        sd.claim_send(other, outgoing, msg, rcpt, False)
    assert e.value.code == 2
    sd.confirm_send(store, first, {})
    with pytest.raises(sd.SendError, match="already sent .* use --force"):
        sd.claim_send(other, outgoing, msg, rcpt, False)
    assert sd.claim_send(other, outgoing, msg, rcpt, True) > first  # --force takes the key over


def test_a_failed_store_write_after_delivery_blocks_a_plain_retry(smtp_server, good_run, monkeypatch):
    inbox, port = smtp_server()
    out, _, store = good_run

    def store_down(*a, **kw):
        raise sa.exc.OperationalError("UPDATE soe_sends", {}, Exception("database is locked"))

    said = []
    with monkeypatch.context() as m:
        m.setattr(sd, "confirm_send", store_down)
        assert sd.send_week(local(port), outputs=out, store=store, out=said.append, environ={}) == 1
    assert len(inbox.messages) == 1
    assert any("delivered, but the store could not record the delivery" in s and sd.UNKNOWN_DELIVERY in s
               for s in said), said
    with pytest.raises(sd.SendError) as e:
        sd.send_week(local(port), outputs=out, store=store, out=said.append, environ={})
    assert e.value.code == 2 and sd.UNKNOWN_DELIVERY in str(e.value) and "--force" in str(e.value)
    assert len(inbox.messages) == 1
    assert sd.send_week(local(port), force=True, outputs=out, store=store, out=said.append, environ={}) == 0
    assert len(inbox.messages) == 2
    assert [(r["status"], r["forced"]) for r in sends_rows(store)] == [("claimed", False), ("sent", True)]


def test_a_crash_between_claim_and_confirm_leaves_the_delivery_unknown(smtp_server, good_run, monkeypatch):
    inbox, port = smtp_server()
    out, _, store = good_run
    real = sd.deliver

    def delivered_then_killed(*a, **kw):
        real(*a, **kw)
        raise KeyboardInterrupt  # Ctrl-C (or a kill) after the server took the message, before the confirmation

    with monkeypatch.context() as m:
        m.setattr(sd, "deliver", delivered_then_killed)
        with pytest.raises(KeyboardInterrupt):
            sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={})
    assert len(inbox.messages) == 1
    (row,) = sends_rows(store)
    assert row["status"] == "claimed" and row["claimed_by"]
    said = []
    assert sd.send_week(local(port), dry_run=True, outputs=out, store=store, out=said.append, environ={}) == 0
    assert any(sd.UNKNOWN_DELIVERY in s and "needs --force" in s for s in said), said
    with pytest.raises(sd.SendError, match="check the mailbox") as e:
        sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={})
    assert e.value.code == 2 and len(inbox.messages) == 1
    assert sd.send_week(local(port), force=True, outputs=out, store=store, out=lambda s: None, environ={}) == 0
    assert len(inbox.messages) == 2


def test_a_failed_delivery_releases_its_claim(smtp_server, good_run):
    inbox, port = smtp_server()
    out, _, store = good_run
    with pytest.raises(sd.SendError, match="cannot connect") as e:
        sd.send_week(local(_free_port()), outputs=out, store=store, out=lambda s: None, environ={})
    assert e.value.code == 1 and sends_rows(store) == []
    assert sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={}) == 0  # no --force


def test_a_sends_table_of_an_older_suite_gets_the_claim_columns(smtp_server, good_run):
    inbox, port = smtp_server()
    out, _, store = good_run
    with store.engine.begin() as c:  # the store was opened by this suite: put the old table in its place
        c.execute(sa.text("DROP TABLE soe_sends"))
        c.execute(sa.text("CREATE TABLE soe_sends (id INTEGER PRIMARY KEY AUTOINCREMENT, week VARCHAR(8) NOT NULL, "
                          "run_id VARCHAR(64) NOT NULL, kind VARCHAR(32) NOT NULL, subject TEXT, recipients TEXT, "
                          "refused TEXT, message_id VARCHAR(255), status VARCHAR(16) NOT NULL, "
                          "forced BOOLEAN NOT NULL, sent_at DATETIME NOT NULL)"))
        c.execute(sa.text("INSERT INTO soe_sends (week, run_id, kind, status, forced, sent_at) "
                          "VALUES ('2026-W46', 'r0', 'leadership', 'sent', 0, '2026-11-18 12:00:00')"))
    assert sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={}) == 0
    rows = sends_rows(store)
    assert [(r["week"], r["status"], r["claim_key"]) for r in rows] == [("2026-W46", "sent", None),
                                                                        (WEEK, "sent", f"{WEEK}:leadership")]
    with pytest.raises(sd.SendError, match="already sent"):
        sd.send_week(local(port), outputs=out, store=store, out=lambda s: None, environ={})


# ---------------------------------------------------------------- end to end: a full run with secrets, then `soe send`

@pytest.fixture(scope="module")
def secret_run(pack_run, pack_env, tmp_path_factory):
    """The session's pack run (on a copy: ``soe send`` records the send in the store): its environment holds the
    secrets and its demo a customer named EVIL."""
    pack_run, pack_env = private_outputs(pack_run, pack_env, tmp_path_factory.mktemp("secret_run") / "outputs")
    return {"env": pack_env, "run": pack_run["proc"], "outputs": pack_run["outputs"]}


@pytest.mark.e2e
def test_secrets_appear_in_no_output_and_data_is_escaped_everywhere(secret_run, smtp_server):
    env, run, outputs = secret_run["env"], secret_run["run"], secret_run["outputs"]
    inbox, port = smtp_server(auth=True, password=SMTP_SECRET)
    sent = soe("send", "--week", DEMO_WEEK, "--set", "email.smtp_host=localhost", "--set", f"email.smtp_port={port}",
               "--set", "email.smtp_starttls=false", "--force", env={**env, "SOE_SMTP_PASSWORD": SMTP_SECRET})
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(inbox.messages) == 1 and inbox.logins == [(b"soe@kestrel.example", SMTP_SECRET.encode())]
    files = [p for p in outputs.rglob("*") if p.is_file()]
    assert any(p.suffix == ".eml" for p in files) and any(p.suffix == ".ipynb" for p in files)
    for p in files:
        data = p.read_bytes()
        for secret in (SMTP_SECRET, DB_SECRET):
            assert secret.encode() not in data, f"{secret} leaked into {p}"
    for text in (run.stdout, run.stderr, sent.stdout, sent.stderr):
        assert SMTP_SECRET not in text and DB_SECRET not in text
    htmls = [p for p in files if p.suffix == ".html"]
    assert htmls
    for p in htmls:
        assert EVIL not in p.read_text(), f"unescaped data in {p}"
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in p.read_text() for p in htmls)  # it did reach a report
    for p in (p for p in files if p.suffix == ".eml"):
        msg = email.message_from_bytes(p.read_bytes(), policy=policy.default)
        body = msg.get_body(("html",))
        if body is not None:
            assert EVIL not in body.get_content()


@pytest.mark.e2e
def test_soe_send_cli_delivers_the_pack_email(pack_run, pack_env, smtp_server, tmp_path):
    inbox, port = smtp_server()
    run_id = pack_run["manifest"]["run_id"]
    args = ["send", "--week", DEMO_WEEK, "--run", run_id, "--set", "email.smtp_host=127.0.0.1", "--set",
            f"email.smtp_port={port}", "--set", "email.smtp_starttls=false"]
    # this server takes no login; a store of its own: another test of the session may have sent the week already
    no_login = {**pack_env, "SOE_SMTP_PASSWORD": "", "SOE_STORE_URL": f"sqlite:///{tmp_path / 'sends.sqlite'}"}
    res = soe(*args, env=no_login)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Sent the leadership email of 2026-W47" in res.stdout
    (m,) = inbox.messages
    assert sorted(m["to"]) == sorted(LEADERS + ANALYSTS)
    (tmp_path / "got.eml").write_bytes(m["data"])
    msg, _ = check_leadership_eml(tmp_path / "got.eml")
    assert msg["X-SOE-Run"] == run_id
    again = soe(*args, env=no_login)  # the same week twice needs --force (tested with the API above)
    assert again.returncode == 2 and "already sent" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr and len(inbox.messages) == 1
