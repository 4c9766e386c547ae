"""pyengine dsl check|compile and pyengine backtest, end to end on bundled data."""
import csv
import pathlib

import pytest

import dsl
from dsl_oracle import PINE
from pyengine.cli import main

LIB = pathlib.Path(dsl.__path__[0]) / "library"


def test_check_ok(capsys):
    assert main(["dsl", "check", str(LIB / "rsi_mean_reversion.pine")]) == 0
    out = capsys.readouterr().out
    assert "ok (strategy 'RSI mean reversion'" in out and "RSI length=14" in out


def test_check_reports_diagnostics(tmp_path, capsys):
    bad = tmp_path / "bad.pine"
    bad.write_text('//@version=5\nstrategy("x")\nplot(ta.sma(close, lenght))\n')
    assert main(["dsl", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:20: undeclared identifier 'lenght'" in err
    assert "plot(ta.sma(close, lenght))" in err and "^" in err
    assert "Traceback" not in err


def test_compile_then_backtest_bytecode(tmp_path, capsys):
    bc = tmp_path / "dual.bc"
    assert main(["dsl", "compile", str(LIB / "dual_ma_trend.pine"), "-o", str(bc),
                 "--input", "Fast EMA=10"]) == 0
    program = dsl.load_program(bc)
    assert program.inputs[0]["value"] == 10
    trades, equity = tmp_path / "t.csv", tmp_path / "e.html"
    assert main(["backtest", str(bc), "--trades", str(trades), "--equity", str(equity)]) == 0
    out = capsys.readouterr().out
    for label in ("net profit", "max drawdown", "win rate", "profit factor", "Sharpe",
                  "trades"):
        assert label in out
    rows = list(csv.reader(trades.open()))
    assert rows[0][:5] == ["Trade #", "Type", "Date/Time", "Signal", "Price USDT"]
    assert rows[1][1] == "Entry long" and rows[2][1] == "Exit long"
    assert "<svg" in equity.read_text() and "polyline" in equity.read_text()


def test_backtest_pine_on_csv_and_spot_refusal(tmp_path, capsys):
    data = pathlib.Path(__file__).resolve().parents[1] / "oracle/pynecore/strategy/ohlcv.csv"
    args = ["backtest", str(PINE / "rsi.pine"), "--data", str(data), "--mintick", "0.00001",
            "--trades", str(tmp_path / "t.csv"), "--equity", str(tmp_path / "e.html")]
    assert main(args) == 2
    assert "short entry refused in spot mode" in capsys.readouterr().err
    assert main(args + ["--mode", "tradingview"]) == 0
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(rows) == 2 * 194 and rows[0]["Signal"] == "RsiLE"
    assert float(rows[0]["Price USDT"]) == pytest.approx(1.13018)


def test_backtest_bad_data(tmp_path, capsys):
    junk = tmp_path / "junk.csv"
    junk.write_text("open_time,open,high,low,close\n1,2,3\n")
    assert main(["backtest", str(LIB / "dual_ma_trend.pine"), "--data", str(junk)]) == 2
    assert "junk.csv:2: expected at least 5 columns" in capsys.readouterr().err


def test_parsed_bars_cache(tmp_path):
    src = pathlib.Path(__file__).resolve().parents[1] / "oracle/pynecore/strategy/ohlcv.csv"
    first = dsl.load_csv(src, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = dsl.load_csv(src, cache_dir=tmp_path)
    plain = dsl.load_csv(src)
    for f in ("time", "open", "high", "low", "close", "volume"):
        assert getattr(first, f).tobytes() == getattr(again, f).tobytes() \
            == getattr(plain, f).tobytes()


def test_backtest_pointvalue(tmp_path, capsys):
    data = pathlib.Path(__file__).resolve().parents[1] / \
        "oracle/pynecore/strategy/futures_pnl_ohlcv.csv"
    args = ["backtest", str(PINE / "futures_pnl.pine"), "--data", str(data), "--mintick",
            "0.025", "--mode", "tradingview", "--trades", str(tmp_path / "t.csv"),
            "--equity", str(tmp_path / "e.html")]
    assert main(args + ["--pointvalue", "0"]) == 2
    assert "--pointvalue must be > 0" in capsys.readouterr().err
    assert main(args + ["--pointvalue", "500"]) == 0
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    net = next(k for k in rows[0] if k.startswith("Net P&L") and "%" not in k)
    assert len(rows) == 2 * 294 and float(rows[0][net]) == -437.5  # TradingView's export
