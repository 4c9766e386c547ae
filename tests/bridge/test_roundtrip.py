"""DslStrategy inside Freqtrade: an exported strategy gives the original's trades; a native DSL
strategy's market entries and exits land on the candles our backtester trades."""
from __future__ import annotations

import pathlib
import shutil
import textwrap

import pytest

from dsl.freqtrade.export import export_file
from dsl.freqtrade.ftrun import backtest
from dsl.freqtrade.parity import run_dsl

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHIM = ROOT / "tools/freqtrade/user_data/strategies/DslStrategy.py"
SAMPLE = pathlib.Path(__import__("freqtrade").__file__).parent / "templates" / "sample_strategy.py"


@pytest.mark.parametrize("path", [
    SAMPLE,
    pytest.param(ROOT / "tests/bridge/strategies/EmaCrossTrailing.py", marks=pytest.mark.long),
], ids=lambda p: p.stem)
def test_exported_strategy_round_trip(path, ft_data, tmp_path):
    pine = tmp_path / f"{path.stem}.pine"
    exp = export_file(path)
    pine.write_text(exp.pine)
    original = backtest(path, exp.strategy.name, ft_data, timerange="20260301-20260320")
    again = backtest(SHIM, "DslStrategy", ft_data, timerange="20260301-20260320",
                     extra={"dsl_strategy_file": str(pine)})
    assert len(original.trades) > 5
    assert again.trades == original.trades


NATIVE = textwrap.dedent("""\
    //@version=6
    strategy("native", overlay=true)
    fast = ta.sma(close, 10)
    slow = ta.sma(close, 30)
    if ta.crossover(fast, slow) and strategy.position_size == 0
        strategy.entry("L", strategy.long)
    if ta.crossunder(fast, slow) and strategy.position_size > 0
        strategy.close("L")
    """)


def test_native_dsl_strategy_in_freqtrade(ft_data, tmp_path):
    pine = tmp_path / "native.pine"
    pine.write_text(NATIVE)
    ft = backtest(SHIM, "DslStrategy", ft_data, timerange="20260301-20260315",
                  extra={"dsl_strategy_file": str(pine), "timeframe": "5m"})
    ours = run_dsl(NATIVE, "native", ft.signals, "ZEC/USDT", "5m")
    closed = [t for t in ours.trades if t.reason != "open" and t.entry_time >= ft.start]
    ft_closed = [t for t in ft.trades if t.reason == "exit_signal"]
    assert len(ft_closed) > 5
    assert [(t.entry_time, t.exit_time, t.entry_price, t.exit_price) for t in ft_closed] == \
        [(t.entry_time, t.exit_time, t.entry_price, t.exit_price) for t in closed[:len(ft_closed)]]


@pytest.mark.parametrize("name", ["dual_ma_trend", "rsi_mean_reversion", "bollinger_mean_reversion"])
def test_library_pine_strategy_in_freqtrade(name, ft_data):
    """A hand-written DSL strategy (not an export) inside Freqtrade: entries, exits and the
    strategy.exit stops come from the VM. Freqtrade's own stop model (stop set after the fill,
    candle-low test) differs in corner cases, so this is a near match, not the exact one."""
    from dsl.freqtrade import compare

    pine = ROOT / "dsl" / "library" / f"{name}.pine"
    ft = backtest(SHIM, "DslStrategy", ft_data, timerange="20260301-20260312",
                  extra={"dsl_strategy_file": str(pine), "timeframe": "5m"})
    ours = [t for t in run_dsl(pine.read_text(), name, ft.signals, "ZEC/USDT", "5m").trades
            if t.entry_time > ft.start]
    report = compare.Report()
    compare.compare_trades(report, ft.trades, ours, ft.signals, 0.01)
    print(compare.render(report, name, 0.95))
    assert report.comparable >= 10
    assert report.matched_ratio >= 0.95


def test_hyperopt_optimises_the_scripts_inputs(ft_data, tmp_path):
    """`freqtrade hyperopt` on DslStrategy: the script's input.int(minval, maxval) become
    Freqtrade parameters, and each epoch re-runs the VM with new input values."""
    import json

    from dsl.freqtrade.offline import run_freqtrade

    pine = tmp_path / "sample.pine"
    pine.write_text(export_file(SAMPLE).pine)
    cfg = json.loads((ROOT / "tools/freqtrade/config.json").read_text())
    cfg.update({"dsl_strategy_file": str(pine), "timeframe": "5m", "max_open_trades": 1})
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "ud").mkdir()
    # hyperopt writes DslStrategy.json (the best parameters) next to the strategy file: use a copy
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(SHIM, strategies / SHIM.name)
    code = run_freqtrade(["hyperopt", "--config", str(tmp_path / "config.json"), "--strategy", "DslStrategy",
                          "--strategy-path", str(strategies), "--datadir", str(ft_data),
                          "--userdir", str(tmp_path / "ud"), "--hyperopt-loss", "SharpeHyperOptLossDaily",
                          "--spaces", "buy", "-e", "3", "-j", "1", "--timerange", "20260301-20260312",
                          "--pairs", "ZEC/USDT", "--random-state", "1"])
    assert code == 0
    results = list((tmp_path / "ud" / "hyperopt_results").glob("*.fthypt"))
    assert results, "hyperopt wrote no results"
    epochs = [json.loads(line) for line in results[0].read_text().splitlines()]
    assert len(epochs) == 3
    assert {"dsl_buy_rsi", "dsl_sell_rsi"} <= set(epochs[0]["params_dict"])
    assert len({e["params_dict"]["dsl_buy_rsi"] for e in epochs} | {30}) > 1
    assert (strategies / "DslStrategy.json").is_file() and not (SHIM.parent / "DslStrategy.json").exists()
