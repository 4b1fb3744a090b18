"""soe send --chat: the week's headline and what needs action, posted to a webhook on a local HTTP server."""
from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from conftest import DEMO_WEEK
from soe_helpers.core.params import load_params
from soe_helpers.deliver.chat import chat_payload, post_chat_week
from soe_helpers.deliver.send import SendError
from soe_helpers.store.engine import Store

SECRET = "T000/B000/chat-Secret-9d1"


@pytest.fixture()
def hook():
    got, status = [], [200]

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"path": self.path, "json": json.loads(body)})
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield {"url": f"http://127.0.0.1:{srv.server_port}/services/{SECRET}", "got": got, "status": status}
    srv.shutdown()


@pytest.fixture()
def outputs(pack_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(pack_run["week_dir"], out / DEMO_WEEK, symlinks=True)
    return out


def test_the_week_is_posted_once_with_headline_and_actions(hook, outputs, tmp_path):
    params = load_params(sets=["email.report_url=https://reports.example.com/{week}/{run_id}/{report}.html"])
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    said = []
    env = {"SOE_CHAT_WEBHOOK_URL": hook["url"]}
    assert post_chat_week(params, week=DEMO_WEEK, outputs=outputs, store=store, environ=env, out=said.append) == 0
    [post] = hook["got"]
    text = post["json"]["text"]
    assert text.startswith(f"*S&OE {DEMO_WEEK}: ") and "Needs action" in text
    assert "https://reports.example.com/2026-W47/" in text and text.rstrip().endswith("executive_summary.html")
    assert SECRET not in " ".join(said)
    with pytest.raises(SendError, match="already made") as e:          # once per week
        post_chat_week(params, week=DEMO_WEEK, outputs=outputs, store=store, environ=env, out=said.append)
    assert e.value.code == 2 and len(hook["got"]) == 1
    assert post_chat_week(params, week=DEMO_WEEK, outputs=outputs, store=store, environ=env, out=said.append,
                          force=True) == 0 and len(hook["got"]) == 2


def test_a_failing_webhook_releases_the_claim_and_never_shows_the_url(hook, outputs, tmp_path):
    params = load_params()
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    hook["status"][0] = 500
    env = {"SOE_CHAT_WEBHOOK_URL": hook["url"]}
    with pytest.raises(SendError) as e:
        post_chat_week(params, week=DEMO_WEEK, outputs=outputs, store=store, environ=env, out=lambda m: None)
    assert e.value.code == 1 and "HTTP 500" in str(e.value) and SECRET not in str(e.value)
    hook["status"][0] = 200                                              # a plain retry posts
    assert post_chat_week(params, week=DEMO_WEEK, outputs=outputs, store=store, environ=env, out=lambda m: None) == 0
    with pytest.raises(SendError, match="SOE_CHAT_WEBHOOK_URL"):        # no URL configured: refused, named
        post_chat_week(params, week=DEMO_WEEK, outputs=outputs, store=store, environ={}, out=lambda m: None,
                       force=True)


def test_a_week_whose_latest_run_died_is_not_posted_from_an_earlier_run(hook, outputs, tmp_path):
    week_dir = outputs / DEMO_WEEK
    dead = week_dir / "29991231T000000Z"
    dead.mkdir()
    (dead / "params.json").write_text("{}")                               # started, then killed: no manifest
    with pytest.raises(SendError) as e:
        post_chat_week(load_params(), week=DEMO_WEEK, outputs=outputs, store=Store(f"sqlite:///{tmp_path / 's.db'}"),
                       environ={"SOE_CHAT_WEBHOOK_URL": hook["url"]}, out=lambda m: None)
    assert e.value.code == 2 and "29991231T000000Z" in str(e.value) and hook["got"] == []


def test_teams_payload_is_a_message_card():
    p = chat_payload("**S&OE 2026-W47: on plan**\nline two", "teams")
    assert p["@type"] == "MessageCard" and p["summary"] == "**S&OE 2026-W47: on plan**" and "\n\nline two" in p["text"]
