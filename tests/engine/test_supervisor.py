import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest
import trio

from pyengine.journal import JournalReader
from pyengine.supervisor import (EXIT_ESCALATED, EXIT_OK, Child, RestartPolicy, Root,
                                 Supervisor)

ROOT = pathlib.Path(__file__).resolve().parents[2]
POLICY = RestartPolicy(initial_s=1.0, max_s=8.0, multiplier=2.0, jitter=0.5, max_failures=4,
                       window_s=60.0, healthy_s=30.0)


def root_with(children, policy=POLICY, **kw):
    alerts = []
    root = Root([Supervisor("sup", children, policy)], on_alert=alerts.append,
                handle_signals=False, rng=random.Random(1), **kw)
    return root, alerts


def test_backoff_is_exponential_capped_and_jittered():
    rng = random.Random(7)
    for n in range(1, 10):
        base = min(8.0, 2.0 ** (n - 1))
        for _ in range(50):
            d = POLICY.delay(n, rng)
            assert base * 0.5 <= d <= base
    assert len({POLICY.delay(3, rng) for _ in range(20)}) > 1


async def test_a_failing_child_is_restarted_with_backoff(autojump_clock):
    starts = []

    async def flaky():
        starts.append(trio.current_time())
        if len(starts) <= 3:
            raise ConnectionError(f"drop {len(starts)}")
        await trio.sleep_forever()

    root, alerts = root_with([Child("flaky", flaky)])
    async with trio.open_nursery() as n:
        n.start_soon(root.run)
        await trio.sleep(100)
        assert len(starts) == 4
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        for i, gap in enumerate(gaps):
            base = 2.0 ** i
            assert base * 0.5 <= gap <= base
        assert root.status()[0].state == "running"
        root.request_shutdown("test over")
    assert root.exit_code == EXIT_OK
    assert [a.level for a in alerts] == ["warning"] * 3 + ["info"]
    assert "ConnectionError: drop 1" in alerts[0].message and alerts[0].source == "sup/flaky"
    assert root.restarts == {"sup/flaky": 3}
    (st,) = root.status()
    assert (st.source, st.state, st.restarts, st.last_error) == \
        ("sup/flaky", "stopped", 3, "ConnectionError: drop 3")


async def test_repeated_failures_escalate_to_a_clean_shutdown(autojump_clock):
    calls = []

    async def broken():
        raise RuntimeError("bad state")

    async def healthy():
        try:
            await trio.sleep_forever()
        finally:
            calls.append("healthy cancelled")

    async def cancel_orders():
        await trio.sleep(0.5)           # a request to the exchange
        calls.append("orders cancelled")

    root, alerts = root_with([Child("broken", broken), Child("healthy", healthy)],
                             shutdown=[("cancel open orders", cancel_orders)],
                             finalizers=[lambda: calls.append("journal flushed")])
    assert await root.run() == EXIT_ESCALATED
    assert calls == ["healthy cancelled", "orders cancelled", "journal flushed"]
    critical = [a for a in alerts if a.level == "critical"]
    assert len(critical) == 1 and "failed 4 times in 60 s" in critical[0].message
    assert root.shutdown_reason == "sup/broken keeps failing"
    assert {st.source: st.state for st in root.status()} == {"sup/broken": "escalated",
                                                             "sup/healthy": "stopped"}


async def test_failures_outside_the_window_do_not_escalate(autojump_clock):
    runs = []

    async def fails_after_a_while():
        runs.append(trio.current_time())
        await trio.sleep(40)            # healthy for longer than healthy_s and the window/4
        raise OSError("rare")

    root, alerts = root_with([Child("rare", fails_after_a_while)])
    async with trio.open_nursery() as n:
        n.start_soon(root.run)
        await trio.sleep(400)
        root.request_shutdown("done")
    assert len(runs) >= 8 and root.exit_code == EXIT_OK
    assert not any(a.level == "critical" for a in alerts)
    # backoff reset each time: every restart waited about initial_s
    assert all(0.5 <= b - a - 40 <= 1.0 for a, b in zip(runs, runs[1:]))


async def test_shutdown_steps_respect_the_deadline_and_finalizers_always_run(autojump_clock):
    calls = []

    async def hangs():
        calls.append("cancel started")
        await trio.sleep_forever()

    async def never_reached():
        calls.append("never")

    async def service():
        await trio.sleep_forever()

    root, alerts = root_with([Child("svc", service)], shutdown_deadline_s=5.0,
                             shutdown=[("cancel open orders", hangs), ("other", never_reached)],
                             finalizers=[lambda: calls.append("flushed")])
    async with trio.open_nursery() as n:
        n.start_soon(root.run)
        await trio.sleep(1)
        root.request_shutdown("kill switch")
        t0 = trio.current_time()
    assert trio.current_time() - t0 == pytest.approx(5.0)
    assert calls == ["cancel started", "flushed"]
    assert any("deadline of 5 s passed during 'cancel open orders'" in a.message for a in alerts)


async def test_a_failing_step_or_alert_sink_does_not_stop_the_shutdown(autojump_clock):
    calls = []

    async def fails():
        raise ConnectionError("exchange down")

    async def next_step():
        calls.append("next")

    def bad_alert(alert):
        raise RuntimeError("telegram down")

    root = Root([Supervisor("s", [])], on_alert=bad_alert, handle_signals=False,
                shutdown=[("a", fails), ("b", next_step)],
                finalizers=[lambda: 1 / 0, lambda: calls.append("fin")])
    assert await root.run() == EXIT_OK
    assert calls == ["next", "fin"]


async def test_children_that_return_are_not_restarted(autojump_clock):
    runs = []

    async def one_shot():
        runs.append(1)

    root, _ = root_with([Child("once", one_shot)])
    assert await root.run() == EXIT_OK
    assert runs == [1] and root.status()[0].state == "finished"


async def test_sigterm_runs_the_clean_shutdown_in_process():
    calls = []

    async def service():
        try:
            await trio.sleep_forever()
        finally:
            calls.append("service cancelled")

    async def cancel_orders():
        calls.append("orders cancelled")

    root = Root([Supervisor("s", [Child("svc", service)])],
                shutdown=[("cancel", cancel_orders)],
                finalizers=[lambda: calls.append("flushed")])
    async with trio.open_nursery() as n:
        async def run():
            calls.append(await root.run())
        n.start_soon(run)
        await trio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
    assert root.shutdown_reason == "SIGTERM"
    assert calls == ["service cancelled", "orders cancelled", "flushed", EXIT_OK]


ENGINE = r"""
import sys, trio
from pyengine.journal import Journal
from pyengine.supervisor import Root, Supervisor, Child

journal = Journal(sys.argv[1])
open_orders = {"o1", "o2"}
mode = sys.argv[2]

async def market():
    print("ready", flush=True)
    while True:
        journal.append("note", {"tick": 1})
        await trio.sleep(0.01)

async def cancel_all():
    if mode == "hang":
        print("hanging", flush=True)
        await trio.sleep_forever()
    for o in sorted(open_orders):
        await trio.sleep(0.01)
        journal.append("order", {"cancelled": o}, client_order_id=o)
    open_orders.clear()

root = Root([Supervisor("market-data", [Child("btcusdt", market)])],
            shutdown=[("cancel open orders", cancel_all)], finalizers=[journal.close],
            shutdown_deadline_s=30)
sys.exit(trio.run(root.run))
"""


def test_engine_process_sigterm_exit_0_orders_cancelled_journal_flushed(tmp_path):
    path = tmp_path / "j.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", ENGINE, str(path), "ok"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    with JournalReader(path) as r:
        cancelled = [rec.client_order_id for rec in r.records(kinds=["order"])]
        notes = list(r.records(kinds=["note"]))
    assert cancelled == ["o1", "o2"] and notes


def test_engine_process_second_signal_exits_at_once(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", ENGINE, str(tmp_path / "j.sqlite"), "hang"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().strip() == "hanging"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
