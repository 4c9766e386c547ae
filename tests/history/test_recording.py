"""The recording format: reading every bundled layout byte for byte, writing, rotation, budget."""
from __future__ import annotations

import gzip
import logging
import shutil
from decimal import Decimal

import orjson
import pytest

from pyengine import bundled, recording
from pyengine.recording import RecordingError, RecordingWriter

FEEDS = bundled.ROOT / "feeds"


def _source_lines(path):
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return [orjson.loads(line) for line in fh]


@pytest.mark.parametrize("name,ts_key,count", [
    ("binance_spot_btcusdt_20240808T2354_20240809T0005.jsonl.gz", "recv_ts_ns", 99_574),
    ("binance_spot_ethusdt_20240808T2354_20240809T0005.jsonl.gz", "recv_ts_ns", 79_744),
    ("binance_spot_btcusdt_20230405T0000_0006_nosnapshot.jsonl.gz", "recv_ts_us", 15_088),
    ("binance_spot_multi_20211012_ws.jsonl", "recv_ts", 265),
    ("binance_spot_multi_20211012_depth_snapshots.jsonl", "recv_ts", 4),
])
def test_reads_every_bundled_layout(name, ts_key, count):
    path = FEEDS / name
    src = _source_lines(path)
    got = list(recording.records(path))
    assert len(got) == len(src) == count
    scale = {"recv_ts_ns": 1, "recv_ts_us": 1000}
    for rec, obj in zip(got, src):
        assert orjson.loads(rec.msg) == obj.get("msg", obj.get("data"))
        if ts_key == "recv_ts":
            # the source's decimal seconds, exactly (a float would be off by up to ~200 ns)
            assert abs(rec.recv_ts_ns - int(Decimal(repr(obj["recv_ts"])) * 10**9)) < 1000
        else:
            assert rec.recv_ts_ns == obj[ts_key] * scale[ts_key]
        assert rec.url == obj.get("url")
    if name.endswith("snapshots.jsonl"):
        assert got[0].url.startswith("https://api.binance.com/api/v3/depth?symbol=NKNUSDT")


def test_message_bytes_are_the_recorded_text_unchanged():
    with gzip.open(bundled.BTCUSDT_FEED, "rb") as fh:
        first = fh.readline()
    rec = next(recording.records(bundled.BTCUSDT_FEED))
    assert first.startswith(b'{"recv_ts_ns":1723161253937085768,"msg":' + rec.msg + b"}")
    assert rec.recv_ts_ns == 1723161253937085768
    # decimal seconds converted without float rounding
    multi = next(recording.records(FEEDS / "binance_spot_multi_20211012_ws.jsonl"))
    assert multi.recv_ts_ns == 1633998512063356900


def test_directory_is_merged_by_receive_time(tmp_path):
    shutil.copy(bundled.BTCUSDT_FEED, tmp_path)
    shutil.copy(bundled.ETHUSDT_FEED, tmp_path)
    (tmp_path / "notes.txt").write_text("not a recording")
    ts = [t for t, _ in recording.frames(tmp_path)]
    assert len(ts) == 99_574 + 79_744
    assert all(a <= b for a, b in zip(ts, ts[1:]))


def test_writer_round_trip_is_byte_exact(tmp_path):
    src = list(recording.records(bundled.ETHUSDT_FEED))
    with RecordingWriter(tmp_path, prefix="eth") as w:
        for i, r in enumerate(src):
            w.write(r.msg, recv_ts_ns=r.recv_ts_ns, mono_ns=i,
                    url="https://api.binance.com/api/v3/depth?symbol=ETHUSDT&limit=1000"
                    if b"lastUpdateId" in r.msg[:20] else None)
    back = list(recording.records(tmp_path))
    assert [(r.recv_ts_ns, r.msg) for r in back] == [(r.recv_ts_ns, r.msg) for r in src]
    assert [r.mono_ns for r in back] == list(range(len(src)))
    assert sum(r.url is not None for r in back) == 1


def test_rotation_and_disk_budget_keep_the_newest_data(tmp_path):
    src = list(recording.records(bundled.BTCUSDT_FEED))[:30_000]
    budget = 400_000
    w = RecordingWriter(tmp_path, prefix="btc", budget_bytes=budget, max_file_bytes=60_000,
                        flush_interval_s=0)
    peak = 0
    for r in src:
        w.write(r.msg, recv_ts_ns=r.recv_ts_ns)
        peak = max(peak, sum(p.stat().st_size for p in tmp_path.iterdir()))
    w.close()
    files = sorted(tmp_path.iterdir())
    assert w.stats.files_deleted > 0 and w.stats.files_opened == len(files) + w.stats.files_deleted
    assert peak <= budget + 16_384          # at most one gzip block over between checks
    assert sum(p.stat().st_size for p in files) <= budget
    kept = [(r.recv_ts_ns, r.msg) for r in recording.records(tmp_path)]
    # what survives is the contiguous newest tail of what was written
    assert kept == [(r.recv_ts_ns, r.msg) for r in src[-len(kept):]]
    assert len(kept) < len(src)


def test_a_new_writer_counts_old_files_against_the_budget(tmp_path):
    src = list(recording.records(bundled.BTCUSDT_FEED))[:8_000]
    for half in (src[:4000], src[4000:]):
        with RecordingWriter(tmp_path, prefix="btc", budget_bytes=120_000,
                             max_file_bytes=30_000) as w:
            for r in half:
                w.write(r.msg, recv_ts_ns=r.recv_ts_ns)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 120_000


def test_truncated_recording_is_read_up_to_the_cut(tmp_path, caplog):
    src = list(recording.records(bundled.BTCUSDT_FEED))[:5000]
    with RecordingWriter(tmp_path, prefix="cut") as w:
        for r in src:
            w.write(r.msg, recv_ts_ns=r.recv_ts_ns)
    (path,) = tmp_path.iterdir()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="pyengine.recording"):
        got = list(recording.records(path))
    assert 0 < len(got) < len(src)
    assert [(r.recv_ts_ns, r.msg) for r in got] == [(r.recv_ts_ns, r.msg) for r in src[:len(got)]]
    assert "ends early" in caplog.text


@pytest.mark.parametrize("line,fragment", [
    (b'{"recv_ts_ns":1,"msg":{"a":1}}\nnot json\n', ":2: not a JSON object line"),
    (b'{"recv_ts_ns":1,"other":{"a":1}}\n', ':1: no "msg"'),
    (b'{"recv_ts_ns":"x","msg":{"a":1}}\n', ":1: the receive timestamp"),
    (b'{"when":5,"msg":{"a":1}}\n', ":1: no receive timestamp"),
    (b'{"recv_ts_ns":1,"msg":42}\n', ":1: the message is not a JSON object"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(line)
    with pytest.raises(RecordingError, match=fragment.replace("(", r"\(")):
        list(recording.records(path))


def test_bad_paths_are_user_errors(tmp_path):
    with pytest.raises(RecordingError, match="no such file"):
        recording.recording_files(tmp_path / "missing.jsonl.gz")
    with pytest.raises(RecordingError, match="no recording files"):
        recording.recording_files(tmp_path)
    with pytest.raises(ValueError, match="newline"):
        RecordingWriter(tmp_path).write(b'{"a":\n1}')
    with pytest.raises(ValueError, match="JSON object or array"):
        RecordingWriter(tmp_path).write(b"ping")


def test_concatenated_gzip_members_and_missing_final_newline(tmp_path):
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"recv_ts_ns":1,"msg":{"a":1}}\n')
                     + gzip.compress(b'{"recv_ts_ns":2,"mono_ns":7,"msg":[1,2]}'))
    assert list(recording.records(path)) == [(1, b'{"a":1}', None, None), (2, b"[1,2]", 7, None)]
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b'{"recv_ts_ns":1,"msg":{"a":1}}\n{"recv_ts_ns":2,"msg":{"a":[1,}')
    assert [r.recv_ts_ns for r in recording.records(cut)] == [1]
