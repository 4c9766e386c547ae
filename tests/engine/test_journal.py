import os
import pathlib
import sqlite3
import subprocess
import sys
from decimal import Decimal

import pytest
import trio

from pyengine import journal as journal_mod
from pyengine.journal import (DuplicateIntent, Journal, JournalError, JournalReader,
                              read_intent_log)

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    yield j
    j.close()


def intent(j, coid, **data):
    return j.record_intent(coid, strategy_id="ema", symbol="BTCUSDT",
                           data={"side": "BUY", "qty": Decimal("0.00100000"), **data})


def test_intent_is_in_the_log_at_once_and_in_the_database_after_flush(journal):
    assert intent(journal, "c1", price=Decimal("60000.10")) is None
    with JournalReader(journal.path) as r:
        assert list(r.records()) == []
        (logged,) = r.unflushed_intents()
        assert (logged.kind, logged.client_order_id, logged.data["price"]) == \
            ("intent", "c1", "60000.10")
    assert journal.flush() == 1
    assert read_intent_log(journal.intent_log) == []
    with JournalReader(journal.path) as r:
        (rec,) = list(r.records())
        assert r.unflushed_intents() == []
    assert (rec.seq, rec.kind, rec.client_order_id, rec.strategy_id) == (1, "intent", "c1", "ema")
    assert rec.data == {"side": "BUY", "qty": "0.00100000", "price": "60000.10"}


def test_duplicate_intent_is_refused(journal):
    intent(journal, "c1")
    journal.append("note", {"n": 1})
    with pytest.raises(DuplicateIntent):
        intent(journal, "c1")
    journal.flush()
    with pytest.raises(DuplicateIntent):
        intent(journal, "c1")
    assert [r.kind for r in journal.records()] == ["intent", "note"]
    assert journal.has_intent("c1") and not journal.has_intent("c2")


def test_records_keep_the_order_in_which_things_happened(journal):
    journal.append("ack", {"orderId": 1}, client_order_id="c0", symbol="BTCUSDT")
    journal.append("balance", {"asset": "USDT", "free": Decimal("10.5")})
    intent(journal, "c1")
    assert list(journal.records()) == [] and journal.pending == 3
    assert journal.flush() == 3
    assert [r.kind for r in journal.records()] == ["ack", "balance", "intent"]
    journal.append("risk", {"reason": "EXPOSURE"})
    assert journal.flush() == 1 and journal.flush() == 0
    assert [r.seq for r in journal.records(since_seq=3)] == [4]
    assert [r.kind for r in journal.records(kinds=["risk", "ack"])] == ["ack", "risk"]


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_a_crashed_writers_logged_intents_are_recovered(tmp_path, sync):
    path = tmp_path / "j.sqlite"
    j = Journal(path, synchronous=sync)
    intent(j, "a")
    j.flush()
    j.append("note", {"lost": True})           # queued, never flushed: lost in the crash
    intent(j, "b")
    intent(j, "c")
    torn = b'["intent",1,2,"ema","BTC'             # a copy cut short: never reported written
    j._log[j._log_pos:j._log_pos + len(torn)] = torn
    os.close(j._lock_fd)                         # the process dies: no flush, no close
    j._conn.close()
    with Journal(path, synchronous=sync) as again:
        assert [r.client_order_id for r in again.records()] == ["a", "b", "c"]
        assert read_intent_log(again.intent_log) == []
        with pytest.raises(DuplicateIntent):
            intent(again, "c")


def test_an_appended_intent_log_of_an_older_engine_is_recovered(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    (tmp_path / "j.sqlite-intents").write_bytes(
        b'["intent",1,2,"ema","BTCUSDT","old",null,"{\\"side\\":\\"BUY\\"}"]\n["intent",1,2,"e')
    with Journal(path) as j:
        assert [(r.client_order_id, r.data) for r in j.records()] == [("old", {"side": "BUY"})]


def test_a_full_intent_log_is_emptied_into_the_database_first(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_mod, "LOG_BYTES", 4096)
    with Journal(tmp_path / "j.sqlite") as j:
        for n in range(100):                     # about 9 KB of intents, no flush between
            intent(j, f"c{n}", price=Decimal("60000.10"))
        assert 0 < len(read_intent_log(j.intent_log)) < 100
        assert j.flush() > 0
        assert [r.client_order_id for r in j.records()] == [f"c{n}" for n in range(100)]


def test_a_damaged_intent_log_is_an_error(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    (tmp_path / "j.sqlite-intents").write_bytes(b"garbage\n")
    with pytest.raises(JournalError, match="j.sqlite-intents:1: damaged intent log line"):
        Journal(path)


def test_fills_are_unique_by_symbol_and_trade_id(journal):
    for _ in range(2):                   # same batch
        journal.append("fill", {"qty": "1"}, symbol="BTCUSDT", trade_id=7)
    journal.flush()
    journal.append("fill", {"qty": "1"}, symbol="BTCUSDT", trade_id=7)   # replayed later
    journal.append("fill", {"qty": "2"}, symbol="ETHUSDT", trade_id=7)   # other symbol
    journal.append("fill", {"qty": "3"}, symbol="BTCUSDT", trade_id=9)
    journal.flush()
    fills = list(journal.records(kinds=["fill"]))
    assert [(f.symbol, f.trade_id) for f in fills] == [("BTCUSDT", 7), ("ETHUSDT", 7),
                                                       ("BTCUSDT", 9)]
    assert journal.last_trade_ids() == {"BTCUSDT": 9, "ETHUSDT": 7}
    with pytest.raises(ValueError):
        journal.append("fill", {}, symbol="BTCUSDT")
    with pytest.raises(ValueError):
        journal.append("intent", {})
    with pytest.raises(TypeError):
        journal.append("note", {"x": 1.5j})


def test_queue_flushes_itself_when_full(tmp_path):
    with Journal(tmp_path / "j.sqlite", max_pending=10) as j:
        for i in range(25):
            j.append("note", {"i": i})
        assert j.pending == 5
        assert len(list(j.records())) == 20


def test_wal_mode_and_synchronous(tmp_path):
    for sync, level in (("normal", 1), ("full", 2)):
        j = Journal(tmp_path / f"{sync}.sqlite", synchronous=sync)
        assert j._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == level
        j.close()
    with pytest.raises(ValueError):
        Journal(tmp_path / "x.sqlite", synchronous="off")


def test_full_mode_stays_full_after_a_flush(tmp_path):
    with Journal(tmp_path / "j.sqlite", synchronous="full") as j:
        j.append("note", {})
        j.flush()
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        intent(j, "a")
        j.flush()
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert [r.kind for r in j.records()] == ["note", "intent"]


async def test_flusher_checkpoints_the_wal_into_the_database(tmp_path, autojump_clock):
    j = Journal(tmp_path / "j.sqlite")
    for i in range(300):
        intent(j, f"c{i}", pad="x" * 200)
    size = j.path.stat().st_size
    async with trio.open_nursery() as n:
        await n.start(j.run_flusher, 0.05, 1.0)
        await trio.sleep(1.2)
        n.cancel_scope.cancel()
    assert j.path.stat().st_size > size + 50_000        # pages copied out of the WAL
    j.close()


def test_one_writer_per_journal(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path):
        with pytest.raises(JournalError, match=f"in use by another engine \\(pid {os.getpid()}"):
            Journal(path)
        proc = subprocess.run([sys.executable, "-c", "import sys; from pyengine.journal import "
                               "Journal; Journal(sys.argv[1])", str(path)],
                              capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode != 0 and "in use by another engine" in proc.stderr
        with JournalReader(path) as r:            # readers are always welcome
            assert r.last_seq() == 0
    with Journal(path):                           # released on close
        pass


def test_reopen_continues_the_sequence(tmp_path):
    with Journal(tmp_path / "j.sqlite") as j:
        intent(j, "a")
    with Journal(tmp_path / "j.sqlite") as j:
        intent(j, "b")
        with pytest.raises(DuplicateIntent):
            intent(j, "a")
        j.flush()
        assert [r.client_order_id for r in j.records()] == ["a", "b"]


def test_not_a_journal(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match="cannot use as a journal"):
        Journal(bad)
    (tmp_path / "ro").mkdir(mode=0o500)
    if os.geteuid() != 0:                        # root may write anywhere
        with pytest.raises(JournalError, match="cannot create the lock file"):
            Journal(tmp_path / "ro" / "j.sqlite")
    (tmp_path / "file").write_text("")
    with pytest.raises(JournalError, match="cannot create its directory"):
        Journal(tmp_path / "file" / "sub" / "j.sqlite")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.commit()
    with pytest.raises(JournalError, match="no records table"):
        JournalReader(other)


async def test_flusher_writes_batches_off_the_hot_path(journal, autojump_clock):
    async with trio.open_nursery() as n:
        await n.start(journal.run_flusher, 0.05)
        journal.append("note", {"i": 1})
        assert journal.pending == 1
        await trio.sleep(0.06)
        assert journal.pending == 0
        journal.append("note", {"i": 2})
        n.cancel_scope.cancel()
    assert [r.data["i"] for r in journal.records()] == [1, 2]    # flushed on cancellation


class Out:
    def __init__(self, code, captured):
        self.returncode, self.stdout, self.stderr = code, captured.out, captured.err


@pytest.fixture
def show(capsys):
    from pyengine.cli import main

    def run(*args):
        code = main(["journal", "show", *args])
        return Out(code, capsys.readouterr())
    return run


def test_journal_show_while_the_writer_is_open(journal, show):
    intent(journal, "c1", price=Decimal("1.5"))
    journal.append("fill", {"qty": "0.001"}, symbol="BTCUSDT", trade_id=42,
                   client_order_id="c1")
    journal.flush()
    out = show(str(journal.path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    assert "intent" in lines[0] and "ema BTCUSDT c1" in lines[0] and '"price":"1.5"' in lines[0]
    assert "fill" in lines[1] and "#42" in lines[1]
    out = show("--json", "--kind", "fill", str(journal.path))
    assert out.stdout.count("\n") == 1 and '"trade_id":42' in out.stdout
    out = show("--tail", "1", str(journal.path))
    assert out.stdout.count("\n") == 1 and "fill" in out.stdout
    intent(journal, "c2")                      # in the intent log until the next flush
    out = show(str(journal.path))
    assert out.stdout.count("\n") == 3
    assert out.stdout.splitlines()[-1].split()[0] == "log" and "c2" in out.stdout


def test_journal_show_follow_sees_new_records(journal):
    intent(journal, "first")
    journal.flush()
    proc = subprocess.Popen([sys.executable, "-m", "pyengine.cli", "journal", "show", "--follow",
                             "--interval", "0.02", str(journal.path)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert "first" in proc.stdout.readline()
        intent(journal, "second")
        journal.flush()
        assert "second" in proc.stdout.readline()
        journal.append("risk", {"reason": "DAILY_LOSS"})
        journal.flush()
        assert "DAILY_LOSS" in proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()


def test_journal_show_errors(tmp_path, show):
    out = show(str(tmp_path / "missing.sqlite"))
    assert out.returncode == 2 and "no such journal file" in out.stderr
    (tmp_path / "bad").write_bytes(b"x" * 4096)
    out = show(str(tmp_path / "bad"))
    assert out.returncode == 2 and "not a pyengine journal" in out.stderr
    assert "Traceback" not in out.stderr


def test_records_are_read_in_pages(tmp_path):
    from pyengine import journal as jmod
    with Journal(tmp_path / "j.sqlite") as j:
        for i in range(2 * jmod._PAGE + 7):
            j.append("note" if i % 3 else "risk", {"i": i})
        j.flush()
        assert [r.data["i"] for r in j.records()] == list(range(2 * jmod._PAGE + 7))
        risks = [r.data["i"] for r in j.records(kinds=["risk"])]
        assert risks == list(range(0, 2 * jmod._PAGE + 7, 3))
        assert [r.data["i"] for r in j.records(since_seq=10, limit=jmod._PAGE + 3)] == \
            list(range(10, 10 + jmod._PAGE + 3))
