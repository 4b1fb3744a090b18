"""Attacks on the weekly run: kills, races, full and read-only disks. Each reproduction is a test.

1. a killed or interrupted runner takes its workers (and their kernels) with it, and nothing of
   the unfinished run is published or recorded as the week's figures;
2. the week lock is held by one process at a time, even with a stale lock file and 40 starters;
3. run ids are unique across weeks started in the same second;
4. a full disk stops the run with one line, marks it failed and attempts the failure notice;
5. a read-only outputs folder gives one clear line and exit 2, no traceback.

Every subprocess and wait is bounded in time.
"""
from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import DEMO_WEEK, ROOT, SOE
from test_postgres import pg  # noqa: F401 - the throwaway PostgreSQL server fixture (skips when there is none)
from soe_helpers.core import atomic
from soe_helpers.core import run_folder
from soe_helpers.deliver.mail import build_run_email
from soe_helpers.run import runner
from soe_helpers.run.runner import RunError, WeekLock

FIXTURES = Path(__file__).parent / "fixtures"


# ---------------------------------------------------------------- 2. the week lock


def _contend(week_dir: str, barrier, results, seconds: float) -> None:
    """One starter: from the barrier on, take and release the lock again and again for ``seconds``,
    proving each time that it is alone while holding it; report how often it held it and held it twice."""
    barrier.wait(timeout=30)
    held = double = 0
    holder = Path(week_dir) / "holder"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with WeekLock(Path(week_dir)):
                try:
                    fd = os.open(holder, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    double += 1
                    continue
                held += 1
                time.sleep(0.002)
                os.close(fd)
                os.unlink(holder)
        except RunError as e:
            if "another run of this week is in progress" not in str(e):
                results.put(("error", str(e)))
                return
    results.put((held, double))


def test_forty_concurrent_starters_with_a_stale_lock_never_hold_the_week_twice(tmp_path):
    (tmp_path / ".lock").write_text("999999999\n")  # what a killed run used to leave
    ctx = mp.get_context("fork")
    n = 40
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(str(tmp_path), barrier, results, 2.0)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=90) for _ in range(n)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0, f"starter pid {p.pid} exited with {p.exitcode}"
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    doubles = sum(d for _, d in outcomes)
    assert doubles == 0, (f"{sum(1 for _, d in outcomes if d)} of {n} starters held {tmp_path / '.lock'} while "
                          f"another did ({doubles} times)")
    assert sum(h for h, _ in outcomes) >= 10, outcomes  # the lock did change hands, one holder at a time


def _hold(week_dir: str, ready) -> None:
    with WeekLock(Path(week_dir)):
        ready.set()
        time.sleep(60)


def test_a_killed_holder_releases_the_lock_at_once(tmp_path):
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_hold, args=(str(tmp_path), ready))
    p.start()
    try:
        assert ready.wait(timeout=30), "the holder never took the lock"
        with pytest.raises(RunError, match=rf"another run of this week is in progress \(pid {p.pid}, lock "):
            with WeekLock(tmp_path):
                pass
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.join(timeout=30)
    with WeekLock(tmp_path):  # no stale lock to clear: the OS released it with the process
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    assert (tmp_path / ".lock").read_text() == ""  # released: no pid left to mislead `soe send`


def test_a_week_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "outputs").write_text("a file where the outputs folder should be")
    with pytest.raises(RunError) as e:
        with WeekLock(tmp_path / "outputs" / DEMO_WEEK):
            pass
    assert str(e.value) == f"cannot write {tmp_path / 'outputs' / DEMO_WEEK}: Not a directory"


# ---------------------------------------------------------------- 3. run ids


def test_run_ids_of_weeks_started_in_the_same_second_are_unique_and_sort_by_time(tmp_path):
    import datetime as dt

    from soe_helpers.core.run_folder import RUN_ID_RE as _RUN_ID
    from soe_helpers.deliver.send import _finished_runs
    from soe_helpers.store.engine import Store

    t = dt.datetime(2026, 12, 1, 10, 15, 3, tzinfo=dt.timezone.utc)
    ids = [runner.new_run_id(w, t) for w in ("2026-W47", "2026-W46") for _ in range(200)]
    assert len(set(ids)) == len(ids), "run ids repeat within one second"
    assert all(i.startswith("20261201T101503Z-2026-W4") for i in ids), ids[:3]
    later = runner.new_run_id("2026-W01", t + dt.timedelta(seconds=1))
    assert sorted([later, *ids[:5]])[-1] == later  # the timestamp prefix still orders runs by start time
    assert all(_RUN_ID.match(i) for i in [*ids, later]), "soe send would not see these runs"

    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    made = [runner._new_run_dir(tmp_path / w) for w in ("2026-W47", "2026-W46", "2026-W47")]
    for run_id, run_dir in made:  # formerly an IntegrityError on soe_runs.run_id for the second week
        store.start_run(run_id, run_dir.parent.name, run_dir)
        (run_dir / "manifest.json").write_text("{}")
    assert {r["run_id"] for r in store.list_runs()} == {m[0] for m in made}
    assert [p.name for p in _finished_runs(tmp_path / "2026-W47")] == [made[0][0], made[2][0]]


@pytest.mark.e2e
def test_a_run_the_store_cannot_record_is_one_line_and_leaves_no_empty_folder(monkeypatch, tmp_path, demo_dir):
    from soe_helpers.store.engine import Store

    out = tmp_path / "out"
    monkeypatch.setenv("SOE_OUTPUTS", str(out))
    monkeypatch.setenv("SOE_DATA_DIR", str(demo_dir))
    monkeypatch.setenv("SOE_STORE_URL", "")
    out.mkdir()
    taken = "20261201T101503Z"  # an id of the old format another week's run already holds
    Store(f"sqlite:///{out / 'soe_store.sqlite'}").start_run(taken, "2026-W46", out / "2026-W46" / taken)
    monkeypatch.setattr(run_folder, "new_run_id", lambda week, now=None: taken)
    with pytest.raises(RunError) as e:
        runner.run_week(DEMO_WEEK, notebooks_dir=FIXTURES / "notebooks_fail", only=["good"], progress=lambda m: None)
    assert str(e.value).startswith("the store sqlite:///") and "UNIQUE constraint failed: soe_runs.run_id" in str(e.value)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in (out / DEMO_WEEK).iterdir()) == [".lock"], "a run folder was left behind"


# ---------------------------------------------------------------- 4. atomic files, full disks


def test_atomic_writer_leaves_the_old_file_whole_on_a_full_disk(tmp_path, monkeypatch):
    f = tmp_path / "status.json"
    atomic.write_text_atomic(f, '{"status": "ok"}')
    monkeypatch.setenv(atomic.FAULT_DISK_FULL_ENV, "*.json")
    with pytest.raises(OSError) as e:
        atomic.write_text_atomic(f, '{"status": "fa')
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(f) and atomic.is_disk_full(e.value)
    assert f.read_text() == '{"status": "ok"}', "the previous file was damaged"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"], "a temp file was left behind"
    atomic.write_text_atomic(tmp_path / "other.txt", "fine")  # other names are not affected
    assert (tmp_path / "other.txt").read_text() == "fine"


def test_an_empty_or_missing_worker_status_is_a_failure_not_a_crash(tmp_path):
    (tmp_path / "a.status.json").write_text("")  # what a worker on a full disk used to leave
    st = runner._worker_status("a", 1, tmp_path / "a.status.json", tmp_path)
    assert st["status"] == "failed" and "unreadable status file" in st["error"] and "a.log" in st["error"]
    st = runner._worker_status("b", 1, tmp_path / "b.status.json", tmp_path)
    assert st == {"name": "b", "status": "failed",
                  "error": f"worker exited with code 1 before reporting; see {tmp_path / 'b.log'}"}
    st = runner._worker_status("c", 28, tmp_path / "c.status.json", tmp_path)
    assert st["disk_full"] == str(tmp_path / "c.status.json")
    assert runner.disk_full_line(st["disk_full"]) == (f"disk full while writing {tmp_path / 'c.status.json'}: "
                                                      f"free space in {tmp_path} and re-run")


def test_a_cell_that_finds_the_disk_full_is_reported_as_a_full_disk():
    from soe_helpers.run.execute import _KERNEL_DISK_FULL

    evalue = "[Errno 28] No space left on device: '/data/out/2026-W47/r1/variance register.xlsx'"
    assert _KERNEL_DISK_FULL.search(evalue).group(1) == "/data/out/2026-W47/r1/variance register.xlsx"
    assert _KERNEL_DISK_FULL.search("[Errno 2] No such file or directory: '/x'") is None


@pytest.mark.e2e
@pytest.mark.parametrize("pattern, where", [("params.json", "runner"), ("*.status.json", "worker")])
def test_a_full_disk_fails_the_run_with_one_line_and_attempts_the_notice(monkeypatch, tmp_path, demo_dir,
                                                                          pattern, where):
    from soe_helpers.store.engine import Store

    monkeypatch.setenv("SOE_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("SOE_DATA_DIR", str(demo_dir))
    monkeypatch.setenv("SOE_STORE_URL", "")
    monkeypatch.setenv(atomic.FAULT_DISK_FULL_ENV, pattern)
    seen: list[str] = []
    with pytest.raises(RunError) as e:
        runner.run_week(DEMO_WEEK, notebooks_dir=FIXTURES / "notebooks_fail", only=["good"], progress=seen.append,
                        build_email=build_run_email)
    (run_dir,) = [p for p in (tmp_path / "out" / DEMO_WEEK).iterdir() if p.is_dir()]
    full = run_dir / "params.json" if where == "runner" else run_dir / ".work" / "good.status.json"
    line = f"disk full while writing {full}: free space in {full.parent} and re-run"
    assert str(e.value) == line
    assert f"FAILED run — {line}" in seen
    (rec,) = Store(f"sqlite:///{tmp_path / 'out' / 'soe_store.sqlite'}").list_runs(DEMO_WEEK)
    assert rec["status"] == "failed" and json.loads(rec["summary"])["error"] == line, rec
    assert line in (run_dir / "FAILED").read_text()
    notice = (run_dir / "email" / "failure_notice.eml").read_text()
    assert "disk full while writing" in " ".join(notice.split()) and full.name in "".join(notice.split()), notice
    assert not (run_dir / "manifest.json").exists() and not (run_dir.parent / "latest.json").exists()
    assert not (run_dir / "good.html").exists()
    assert not [p for p in run_dir.rglob("*.tmp")], "temp files left in the run folder"


# ---------------------------------------------------------------- 5. read-only outputs


def _read_only(folder: Path) -> list[str] | None:
    """A command prefix under which ``folder`` is read-only (None when this machine cannot make one)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    if not shutil.which("unshare"):
        return None
    wrap = ["unshare", "-rm", "sh", "-c",
            f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" "{folder}" && exec "$@"', "sh"]
    probe = subprocess.run([*wrap, "touch", str(folder / "probe")], capture_output=True, timeout=30)
    return wrap if probe.returncode != 0 and not (folder / "probe").exists() else None


@pytest.mark.e2e
@pytest.mark.parametrize("store", ["sqlite in outputs", "sqlite elsewhere", "postgresql"])
def test_a_read_only_outputs_folder_is_one_clear_line_and_exit_2(tmp_path, demo_dir, store, request):
    out = tmp_path / "out"
    store_url = request.getfixturevalue("pg").url("postgres") if store == "postgresql" else ""  # skips without a server
    prefix = _read_only(out)
    if prefix is None:
        pytest.skip("cannot make a read-only folder here (root without unshare/mount)")
    sets = ["--set", f"store.path={tmp_path / 'store.sqlite'}"] if store == "sqlite elsewhere" else []
    env = {**os.environ, "SOE_OUTPUTS": str(out), "SOE_DATA_DIR": str(demo_dir), "SOE_STORE_URL": store_url}
    try:
        res = subprocess.run([*prefix, *SOE, "run", "--week", DEMO_WEEK, "--notebooks-dir",
                              str(FIXTURES / "notebooks_fail"), "--only", "good", *sets], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    finally:
        out.chmod(0o755)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and len(errors) == 1, res.stderr
    assert errors[0].startswith(f"error: cannot write {out}") and "read-only" in errors[0], errors[0]
    assert f"the outputs folder {out} must be writable (or set SOE_OUTPUTS to a folder that is)" in errors[0]
    assert not any(out.iterdir())
    if store == "postgresql":
        assert request.getfixturevalue("pg").admin_password not in res.stderr + res.stdout


# ---------------------------------------------------------------- 1. killed and interrupted runs


def _marked_pids(mark: str) -> list[int]:
    """Processes whose environment carries ``SOE_TEST_MARK=mark``: the runner, its workers, their kernels."""
    needle = f"SOE_TEST_MARK={mark}".encode()
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                if needle in Path(f"/proc/{e}/environ").read_bytes().split(b"\0"):
                    out.append(int(e))
            except OSError:
                continue
    return out


def _wait(cond, timeout: float, step: float = 0.2):
    end = time.time() + timeout
    while time.time() < end:
        got = cond()
        if got:
            return got
        time.sleep(step)
    return cond()


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the run's processes through /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_workers_die_with_the_runner_and_the_dead_run_records_nothing(tmp_path, demo_dir, sig):
    from soe_helpers.store.engine import Store

    out, mark = tmp_path / "out", uuid.uuid4().hex
    env = {**os.environ, "SOE_OUTPUTS": str(out), "SOE_DATA_DIR": str(demo_dir), "SOE_STORE_URL": "",
           "SOE_TEST_MARK": mark}
    proc = subprocess.Popen([*SOE, "run", "--week", DEMO_WEEK, "--notebooks-dir", str(FIXTURES / "notebooks_slow")],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        alive = _wait(lambda: list(out.glob(f"{DEMO_WEEK}/*/kernel_alive")), 120)
        assert alive, "the slow notebook's kernel never started"
        run_dir = alive[0].parent
        assert len(_marked_pids(mark)) >= 3, "expected the runner, a worker and a kernel"
        os.kill(proc.pid, sig)  # the runner only: its workers live in sessions of their own
        proc.wait(timeout=60)
        left = _wait(lambda: not _marked_pids(mark), 15)
        assert left, f"processes of the dead run still alive: {_marked_pids(mark)}"
    finally:
        for pid in _marked_pids(mark):
            _kill_quietly(pid)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    stderr = proc.stderr.read()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    time.sleep(10)  # the notebook would have finished and recorded by now, had it survived
    assert not (run_dir / "slow.html").exists() and not (run_dir / "results" / "slow.json").exists()
    assert not (run_dir / "slow.ipynb").exists() and not (run_dir.parent / "latest.json").exists()
    store = Store(f"sqlite:///{out / 'soe_store.sqlite'}")
    assert store.results_for(DEMO_WEEK) == {}, "a dead run's figures were recorded as the week's"
    (rec,) = store.list_runs(DEMO_WEEK)
    assert rec["status"] == ("running" if sig == signal.SIGKILL else "aborted"), rec
    if sig != signal.SIGKILL:
        assert f"interrupted by {sig.name}" in json.loads(rec["summary"])["error"]
        assert f"interrupted by {sig.name}" in (run_dir / "FAILED").read_text()
    with WeekLock(out / DEMO_WEEK):  # no stale lock: a new run may start at once
        pass



# ---------------------------------------------------------------- 6. the company lock: a backfill against other runs


def _hold_company(outputs: str, exclusive: bool, week: str | None, ready) -> None:
    from soe_helpers.run.runner import CompanyLock  # the child's own import after fork

    with CompanyLock(Path(outputs), exclusive=exclusive, weeks="2025-W48 .. 2026-W47", progress=lambda m: None):
        if week:  # a single run holds its week too
            with WeekLock(Path(outputs) / week):
                ready.set()
                time.sleep(60)
        ready.set()
        time.sleep(60)


def _holder(outputs: Path, exclusive: bool, week: str | None = None):
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_hold_company, args=(str(outputs), exclusive, week, ready))
    p.start()
    assert ready.wait(timeout=30), "the holder never took the lock"
    return p


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait(timeout=30)
    return p.pid


def test_a_backfill_lock_refuses_a_second_backfill_and_a_single_run_at_once_naming_it(tmp_path, demo_dir,
                                                                                       monkeypatch):
    from soe_helpers.run.backfill import backfill

    out = tmp_path / "out"
    monkeypatch.setenv("SOE_OUTPUTS", str(out))
    p = _holder(out, exclusive=True)
    try:
        info = json.loads((out / runner.COMPANY_LOCK_NAME).read_text())
        assert info["pid"] == p.pid and info["weeks"] == "2025-W48 .. 2026-W47"
        who = (rf"a backfill of this company is in progress \(pid {p.pid}, started at {info['started_at']}, "
               r"weeks 2025-W48 \.\. 2026-W47; lock .*\.run\.lock\): wait for it to finish")
        with pytest.raises(RunError, match=who):
            backfill("2026-W46", "2026-W47", data_dir=demo_dir)
        with pytest.raises(RunError, match=who):
            runner.run_week(week=DEMO_WEEK, data_dir=demo_dir, progress=lambda m: None)
        assert sorted(x.name for x in out.iterdir()) == [runner.COMPANY_LOCK_NAME]  # nothing was run or written
        res = subprocess.run([*SOE, "run", "--from", "2026-W46", "--to", "2026-W47", "--data-dir", str(demo_dir)],
                             cwd=ROOT, env={**os.environ, "SOE_OUTPUTS": str(out)}, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert f"a backfill of this company is in progress (pid {p.pid}, started at" in res.stderr
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.join(timeout=30)


def test_a_backfill_lock_waits_for_no_one_while_a_single_run_holds_a_week(tmp_path):
    runner.CompanyLock(tmp_path / "none", exclusive=True).probe()  # a probe creates and writes nothing
    assert not (tmp_path / "none").exists()
    p = _holder(tmp_path, exclusive=False, week=DEMO_WEEK)
    try:
        with pytest.raises(RunError, match=rf"a run of this company is in progress \({DEMO_WEEK} \(pid {p.pid}\)"):
            runner.CompanyLock(tmp_path, exclusive=True).probe()
        with pytest.raises(RunError, match=rf"a run of this company is in progress \({DEMO_WEEK} \(pid {p.pid}\); "
                                           r"lock .*: wait for it to finish, then start the backfill"):
            with runner.CompanyLock(tmp_path, exclusive=True):
                pass
        with runner.CompanyLock(tmp_path, exclusive=False):  # single runs of other weeks go side by side
            pass
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.join(timeout=30)
    with runner.CompanyLock(tmp_path, exclusive=True, weeks="2026-W40 .. 2026-W47"):
        assert json.loads((tmp_path / runner.COMPANY_LOCK_NAME).read_text())["pid"] == os.getpid()
    assert (tmp_path / runner.COMPANY_LOCK_NAME).read_text() == ""  # released: no pid left behind


def test_a_stale_backfill_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path):
    dead = _dead_pid()
    (tmp_path / runner.COMPANY_LOCK_NAME).write_text(json.dumps(
        {"pid": dead, "started_at": "2026-11-30T06:00:00Z", "weeks": "2025-W48 .. 2026-W47"}))
    notes: list[str] = []
    with runner.CompanyLock(tmp_path, exclusive=True, weeks="2026-W46 .. 2026-W47", progress=notes.append):
        now = json.loads((tmp_path / runner.COMPANY_LOCK_NAME).read_text())
        assert now["pid"] == os.getpid() and now["weeks"] == "2026-W46 .. 2026-W47"
    assert notes == [f"Note: took over a stale lock {tmp_path / runner.COMPANY_LOCK_NAME}: the backfill that held it "
                     f"(pid {dead}, started at 2026-11-30T06:00:00Z, weeks 2025-W48 .. 2026-W47) is no longer "
                     "running; its unfinished week, if any, is marked aborted when that week runs again."]


def test_without_flock_the_backfill_lock_file_names_its_live_holder_and_a_dead_one_is_taken_over(tmp_path,
                                                                                               monkeypatch):
    monkeypatch.setattr(runner, "fcntl", None)  # as on Windows: an exclusive create
    lock = tmp_path / runner.COMPANY_LOCK_NAME
    lock.write_text(json.dumps({"pid": os.getppid(), "started_at": "2026-12-01T06:00:00Z", "weeks": "W1 .. W2"}))
    for exclusive in (True, False):
        with pytest.raises(RunError, match=rf"a backfill of this company is in progress \(pid {os.getppid()}, "):
            with runner.CompanyLock(tmp_path, exclusive=exclusive):
                pass
        with pytest.raises(RunError, match=rf"in progress \(pid {os.getppid()}, "):
            runner.CompanyLock(tmp_path, exclusive=exclusive).probe()
    lock.write_text(json.dumps({"pid": _dead_pid(), "started_at": "2026-12-01T06:00:00Z", "weeks": "W1 .. W2"}))
    notes: list[str] = []
    with runner.CompanyLock(tmp_path, exclusive=True, weeks="W3 .. W4", progress=notes.append):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(RunError, match=rf"pid {os.getpid()}, started at .*, weeks W3 \.\. W4"):
            with runner.CompanyLock(tmp_path, exclusive=False):
                pass
    assert not lock.exists() and len(notes) == 1 and "took over a stale lock" in notes[0]
