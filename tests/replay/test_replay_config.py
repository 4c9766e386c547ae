"""``--config``: the file's strategies, engine id (client order id namespace) and risk limits."""
from pyengine import bundled
from pyengine.engine.paper import LIBRARY
from pyengine.ids import client_order_id, decision_seq
from pyengine.replay import replay, source
from pyengine.replay.plan import plan


def test_config_strategies_ids_and_limits(tmp_path):
    cfg_file = tmp_path / "engine.toml"
    cfg_file.write_text(f"""
[engine]
id = "tokyo-1"
[universe]
symbols = ["BTCUSDT", "ETHUSDT"]
[[strategies]]
id = "bb"
pine = "{LIBRARY / 'bollinger_mean_reversion.pine'}"
symbols = ["BTCUSDT", "ETHUSDT"]
interval = "1s"
[[strategies]]
id = "off"
pine = "{LIBRARY / 'dual_ma_trend.pine'}"
enabled = false
[risk]
max_trade_loss_pct = "0.5"
""")
    rec = source.load(bundled.BTCUSDT_FEED)
    cfg, notes = plan(rec, cfg_file, None)
    assert [(s.id, s.symbols, s.interval, s.source) for s in cfg.strategies] == \
        [("bb", ["BTCUSDT"], "1s", "trades")]
    assert cfg.namespace == "tokyo-1" and str(cfg.risk.max_trade_loss_pct) == "0.5"
    result = replay(rec, cfg, tmp_path / "out")
    assert result.records and {r["strategy"] for r in result.records} == {"bb"}
    for r in result.records:
        assert r["client_order_id"] == client_order_id("bb", "BTCUSDT",
                                                       decision_seq(r["bar"], r["rank"]), 0,
                                                       "tokyo-1")
    assert result.session.risk.config.max_trade_loss_pct == cfg.risk.max_trade_loss_pct
