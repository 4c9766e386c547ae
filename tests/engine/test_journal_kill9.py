"""kill -9 durability: a writer process journaling intents is killed at random points; every
intent it reported written must be in the journal afterwards (in the database or the intent log
before the restart, in the database after it), and the journal consistent."""
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest

from pyengine.journal import DuplicateIntent, Journal, JournalReader

ROOT = pathlib.Path(__file__).resolve().parents[2]
LONG = os.environ.get("PYENGINE_LONG") == "1"
WRITER = r"""
import sys
from decimal import Decimal
from pyengine.journal import Journal
j = Journal(sys.argv[1], synchronous=sys.argv[2])
i = int(sys.argv[3])
while True:
    j.append("fill", {"qty": Decimal("0.001"), "i": i}, symbol="BTCUSDT", trade_id=i)
    j.append("ack", {"i": i}, client_order_id=f"c{i}")
    j.record_intent(f"c{i}", strategy_id="s", symbol="BTCUSDT", data={"i": i})
    sys.stdout.write(f"{i}\n")
    sys.stdout.flush()
    if i % 25 == 0:
        j.flush()                 # as the engine's flusher task does every 50 ms
    i += 1
"""


def crash_cycles(path, sync, cycles, rng):
    reported_all: set[int] = set()
    start = 0
    for _ in range(cycles):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), sync, str(start)],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
        reported = [int(proc.stdout.readline())]       # it is writing
        for _ in range(rng.randrange(0, 200)):
            reported.append(int(proc.stdout.readline()))
        time.sleep(rng.random() * 0.005)               # land anywhere in the write loop
        proc.send_signal(signal.SIGKILL)
        reported += [int(line) for line in proc.stdout.read().split()]
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        reported_all.update(reported)

        # what `pyengine journal show` sees of the crashed engine: database + intent log
        with JournalReader(path) as r:
            assert r.integrity_ok()
            seen = {rec.data["i"] for rec in r.records(kinds=["intent"])}
            seen |= {rec.data["i"] for rec in r.unflushed_intents()}
        assert reported_all <= seen
        Journal(path, synchronous=sync).close()        # the restarted engine's recovery
        with JournalReader(path) as r:
            assert r.integrity_ok() and r.unflushed_intents() == []
            intents = [rec.data["i"] for rec in r.records(kinds=["intent"])]
            fills = {rec.trade_id for rec in r.records(kinds=["fill"])}
            acks = {rec.data["i"] for rec in r.records(kinds=["ack"])}
        # every intent reported written is there, with no holes and no duplicates
        assert reported_all <= set(intents)
        assert intents == list(range(len(intents)))
        assert len(intents) - 1 <= max(reported_all) + 1
        # records queued before an intent never outlive it
        assert fills <= set(intents) and acks <= set(intents)
        start = len(intents)
    # a restarted writer cannot journal a reported intent again
    with Journal(path, synchronous=sync) as j:
        with pytest.raises(DuplicateIntent):
            j.record_intent(f"c{max(reported_all)}", strategy_id="s", symbol="BTCUSDT", data={})
    return len(reported_all)


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_kill9_never_loses_a_reported_intent(tmp_path, sync):
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    cycles = 5 if sync == "normal" else 2
    assert crash_cycles(tmp_path / "j.sqlite", sync, cycles, rng) >= cycles


@pytest.mark.long
@pytest.mark.skipif(not LONG, reason="set PYENGINE_LONG=1")
def test_kill9_torture_long(tmp_path):
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    crash_cycles(tmp_path / "j.sqlite", "normal", 50, rng)
