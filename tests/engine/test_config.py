import json
import pathlib
import subprocess

import boto3
import pytest
from botocore.stub import Stubber

from pyengine.config import (ConfigError, Secret, aws_secret_fetcher, config_from_dict,
                             default_config, load_config)

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "pyengine.example.toml"


def write(tmp_path, text, name="pyengine.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def problems(exc_info):
    return exc_info.value.problems


def test_default_config_is_paper_trading():
    cfg = default_config()
    assert cfg.venue.kind == "sim"
    assert cfg.universe.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "ZECUSDT"]
    assert cfg.venue.endpoints() is None
    assert cfg.risk.max_trade_loss_pct == 1


EMA_CROSS = """//@version=5
strategy("EMA cross", overlay=true)
fast = input.int(9, "fast")
slow = input.int(21, "slow")
if ta.crossover(ta.ema(close, fast), ta.ema(close, slow))
    strategy.entry("L", strategy.long)
if ta.crossunder(ta.ema(close, fast), ta.ema(close, slow))
    strategy.close("L")
"""


@pytest.fixture
def example():
    """The shipped example, whose strategies are the DSL library's."""
    return EXAMPLE


def test_example_config_is_valid(example):
    env = {"BINANCE_API_KEY": "k" * 64, "BINANCE_PRIVATE_KEY": "p" * 64}
    cfg = load_config(example, environ=env)
    assert cfg.venue.kind == "testnet"
    assert cfg.venue.endpoints().rest == "https://testnet.binance.vision"
    assert [s.pine.name for s in cfg.strategies] == ["dual_ma_trend.pine",
                                                     "rsi_mean_reversion.pine"]
    assert all(s.pine.is_file() and ".." not in s.pine.parts for s in cfg.strategies)
    assert cfg.venue.api_key.reveal() == "k" * 64
    assert str(cfg.risk.max_trade_loss_pct) == "0.8"
    assert cfg.telemetry.redis.url.startswith("rediss://")


def test_endpoint_overrides():
    cfg = config_from_dict({"venue": {"kind": "production", "rest_url": "https://api1.binance.com"}},
                           resolve_secrets=False)
    e = cfg.venue.endpoints()
    assert (e.rest, e.streams) == ("https://api1.binance.com", "wss://stream.binance.com:9443")


def test_subsystem_sections_report_their_errors_with_file(tmp_path):
    p = write(tmp_path, '[risk]\nmax_daily_loss_pct = "5"\n[telemetry]\nrollup_interval_s = 0\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msgs = problems(e)
    assert len(msgs) == 2 and all(m.startswith(f"{p}:") for m in msgs)
    assert "max_daily_loss_pct" in msgs[0] and "rollup_interval_s" in msgs[1]


def test_unknown_keys_get_a_did_you_mean_with_file_and_key(tmp_path):
    p = write(tmp_path, '[venue]\nknd = "sim"\n[journl]\npath = "x"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msgs = problems(e)
    assert f"{p}:venue.knd: unknown key (did you mean 'kind'?)" in msgs
    assert f"{p}:journl: unknown key (did you mean 'journal'?)" in msgs


def test_wrong_types_and_choices(tmp_path):
    p = write(tmp_path, '[venue]\nkind = "mainnet"\nrecv_window_ms = "5000"\n'
                        '[universe]\nsymbols = "BTCUSDT"\n[journal]\nsynchronous = "fulll"\n'
                        '[selection]\nmin_quote_volume_24h = "lots"\nmax_spread_bps = true\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    text = "\n".join(problems(e))
    assert f"{p}:venue.kind: 'mainnet' is not one of sim, testnet, production, demo" in text
    assert f"{p}:venue.recv_window_ms: expected an integer, got a string '5000'" in text
    assert f"{p}:universe.symbols: expected an array" in text
    assert "journal.synchronous: 'fulll' is not one of normal, full (did you mean 'full'?)" \
        in text
    assert "selection.min_quote_volume_24h: expected a decimal number" in text
    assert "selection.max_spread_bps: expected a number, got a boolean True" in text
    assert all(m.startswith(f"{p}:") for m in problems(e))


def test_busy_poll_is_off_unless_asked(tmp_path):
    assert default_config().engine.busy_poll is False
    assert load_config(write(tmp_path, "[engine]\nbusy_poll = true\n")).engine.busy_poll is True
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, '[engine]\nbusy_poll = "yes"\n', "bad.toml"))
    assert any("engine.busy_poll: expected true or false" in m for m in problems(e))


def test_selection_and_ledger_limits(tmp_path):
    p = write(tmp_path, '[selection]\nmax_spread_bps = 0\nmin_volatility_pct = -1\n'
                        'volatility_bars = 2000\n'
                        '[ledger]\nwarmup_bars = 3000\nwarmup_weight_per_minute = 7000\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert problems(e) == [
        f"{p}:selection.max_spread_bps: must be greater than 0, got 0.0",
        f"{p}:selection.min_volatility_pct: must not be negative",
        f"{p}:ledger.warmup_bars: 3000 is more than ledger.capacity (2000) keeps",
        f"{p}:selection.volatility_bars: needs 2001 bars but ledger.capacity keeps 2000",
        f"{p}:ledger.warmup_weight_per_minute: must be between 2 (one klines request) and "
        "6000 (Binance's limit per IP), got 7000"]
    ok = load_config(write(tmp_path, '[ledger]\nwarmup_bars = 500\n'
                                     'warmup_weight_per_minute = 100\n'))
    assert (ok.ledger.warmup_bars, ok.ledger.warmup_weight_per_minute) == (500, 100)


def test_exchange_stops_are_refused_with_the_reason(tmp_path):
    p = write(tmp_path, '[risk]\nstop_mode = "exchange"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    (msg,) = problems(e)
    assert msg.startswith(f'{p}:risk.stop_mode: "exchange" is refused by the engine: a resting '
                          "STOP_LOSS_LIMIT sell locks the coins")
    assert 'Use stop_mode = "engine"' in msg


def test_toml_syntax_error_names_the_file(tmp_path):
    p = write(tmp_path, "[venue\nkind=1")
    with pytest.raises(ConfigError, match=rf"{p}: TOML syntax error"):
        load_config(p)


def test_missing_secrets_are_named_by_environment_variable(tmp_path):
    p = write(tmp_path, '[venue]\nkind = "production"\napi_key = "env:MY_KEY"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p, environ={})
    assert problems(e) == [
        f"{p}:venue.api_key: environment variable MY_KEY is not set",
        f"{p}:venue.private_key: environment variable BINANCE_PRIVATE_KEY is not set"]


def test_literal_secret_is_refused_without_echoing_it(tmp_path):
    p = write(tmp_path, '[venue]\nkind = "testnet"\napi_key = "vmPUZE6mv9SD5VNHk4HlWFsOr"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p, environ={})
    assert "vmPUZE6mv9SD5VNHk4HlWFsOr" not in str(e.value)
    assert f"{p}:venue.api_key: secrets are never written in the file" in str(e.value)


def test_secret_value_never_printed(tmp_path):
    p = write(tmp_path, '[venue]\nkind = "testnet"\n')
    cfg = load_config(p, environ={"BINANCE_API_KEY": "SUPERSECRETVALUE",
                                  "BINANCE_PRIVATE_KEY": "OTHERSECRET"})
    assert cfg.venue.api_key.reveal() == "SUPERSECRETVALUE"
    for text in (repr(cfg), str(cfg), f"{cfg.venue.api_key}", repr(cfg.venue)):
        assert "SUPERSECRETVALUE" not in text and "OTHERSECRET" not in text
    import pickle
    with pytest.raises(TypeError):
        pickle.dumps(cfg.venue.api_key)


def test_strategy_rules(tmp_path):
    (tmp_path / "ema.pine").write_text("//@version=5\n")
    p = write(tmp_path, '[universe]\nsymbols = ["BTCUSDT", "ETHUSDT"]\n'
                        '[[strategies]]\nid = "ema"\npine = "ema.pine"\nsymbols = ["BTCUSDT"]\n'
                        'interval = "5m"\ninputs = { fast = 9 }\n'
                        '[[strategies]]\nid = "ema"\npine = "missing.pine"\n'
                        'symbols = ["XRPUSDT"]\ninterval = "7m"\n'
                        '[[strategies]]\npine = "ema.pine"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    text = "\n".join(problems(e))
    assert "strategies[1].interval: '7m' is not one of" in text
    assert "strategies[2].id: missing required key" in text
    p = write(tmp_path, '[universe]\nsymbols = ["BTCUSDT", "ETHUSDT"]\n'
                        '[[strategies]]\nid = "ema"\npine = "ema.pine"\n'
                        '[[strategies]]\nid = "ema"\npine = "missing.pine"\n'
                        'symbols = ["XRPUSDT"]\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    text = "\n".join(problems(e))
    assert "strategies[1].id: duplicate strategy id 'ema'" in text
    assert "strategies[1].pine: file not found" in text
    assert "strategies[1].symbols[0]: 'XRPUSDT' is not in the universe" in text
    cfg = load_config(write(tmp_path, '[[strategies]]\nid = "ema"\npine = "ema.pine"\n'))
    assert cfg.strategies[0].pine == tmp_path / "ema.pine"
    assert cfg.strategies[0].symbols == cfg.universe.symbols


def test_aws_secrets_manager_with_stubber(tmp_path, monkeypatch):
    client = boto3.client("secretsmanager", region_name="ap-northeast-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    stub = Stubber(client)
    secret = json.dumps({"api_key": "AKV-SECRET", "private_key": "PK-SECRET"})
    stub.add_response("get_secret_value", {"SecretString": secret, "Name": "pe/binance"},
                      {"SecretId": "pe/binance"})
    stub.add_client_error("get_secret_value", service_error_code="ResourceNotFoundException",
                          expected_params={"SecretId": "pe/telegram"})
    stub.activate()
    monkeypatch.setattr(boto3, "client", lambda *a, **k: client)
    p = write(tmp_path, '[venue]\nkind = "production"\napi_key = "aws:pe/binance#api_key"\n'
                        'private_key = "aws:pe/telegram"\n'
                        '[secrets]\naws_region = "ap-northeast-1"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert problems(e) == [f"{p}:venue.private_key: AWS Secrets Manager secret 'pe/telegram': "
                           "ResourceNotFoundException"]
    stub.assert_no_pending_responses()


def test_aws_secret_fields(tmp_path):
    store = {"pe/a": json.dumps({"api_key": "A1", "private_key": "P1"}), "pe/raw": "RAWKEY"}
    p = write(tmp_path, '[venue]\nkind = "demo"\napi_key = "aws:pe/a#api_key"\n'
                        'private_key = "aws:pe/raw"\n')
    cfg = load_config(p, aws_fetch=store.__getitem__)
    assert (cfg.venue.api_key.reveal(), cfg.venue.private_key.reveal()) == ("A1", "RAWKEY")
    p = write(tmp_path, '[venue]\nkind = "demo"\napi_key = "aws:pe/a#nokey"\n'
                        'private_key = "aws:pe/raw#field"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p, aws_fetch=store.__getitem__)
    assert problems(e) == [
        f"{p}:venue.api_key: AWS secret 'pe/a' has no string field 'nokey'",
        f"{p}:venue.private_key: AWS secret 'pe/raw' is not a JSON object, so it has no "
        "field 'field'"]
    assert "RAWKEY" not in str(e.value) and "P1" not in str(e.value)


def test_aws_secrets_manager_with_moto(monkeypatch):
    from moto import mock_aws
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("secretsmanager", region_name="ap-northeast-1").create_secret(
            Name="pe/binance", SecretString=json.dumps({"api_key": "MOTO-KEY"}))
        fetch = aws_secret_fetcher("ap-northeast-1")
        assert json.loads(fetch("pe/binance"))["api_key"] == "MOTO-KEY"
        from pyengine.config import SecretLookupError
        with pytest.raises(SecretLookupError, match="ResourceNotFoundException"):
            fetch("pe/none")


def test_secret_reference_syntax():
    assert Secret("env:X").env_var == "X"
    for bad in ("X", "env:", "aws:", "aws:#f", "file:/etc/x"):
        with pytest.raises(ValueError):
            Secret(bad)


def test_config_check_command(tmp_path, example, capsys, monkeypatch):
    from pyengine.cli import main

    def run_cli(*args, env):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    ok = run_cli("config", "check", str(example),
                 env={"BINANCE_API_KEY": "KEYVALUE", "BINANCE_PRIVATE_KEY": "PRIVVALUE"})
    assert ok.returncode == 0, ok.stderr
    assert "testnet" in ok.stdout and "venue.api_key: env:BINANCE_API_KEY (resolved)" in ok.stdout
    assert "KEYVALUE" not in ok.stdout + ok.stderr
    bad = run_cli("config", "check", str(write(tmp_path, '[venue]\nkid = "sim"\n')), env={})
    assert bad.returncode == 2
    assert "pyengine: error:" in bad.stderr and "venue.kid: unknown key" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = run_cli("config", "check", str(example), env={"BINANCE_API_KEY": ""})
    assert missing.returncode == 2
    assert "environment variable BINANCE_API_KEY is not set" in missing.stderr


def test_config_check_compiles_the_strategies(tmp_path, capsys):
    from pyengine.cli import main
    (tmp_path / "ok.pine").write_text(EMA_CROSS)
    (tmp_path / "bad.pine").write_text('//@version=5\nstrategy("x")\nplot(ta.emaa(close, 3))\n')
    p = write(tmp_path, '[[strategies]]\nid = "ok"\npine = "ok.pine"\ninputs = { fast = 5 }\n'
                        '[[strategies]]\nid = "bad"\npine = "bad.pine"\n')
    assert main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:strategies[1] (bad):" in err and "bad.pine:3:" in err
    assert "strategies[0]" not in err


def test_config_check_names_exit_legs_and_refuses_partial_exits(tmp_path, capsys):
    from pyengine.cli import main
    head = '//@version=5\nstrategy("x")\nif close > open\n    strategy.entry("L", strategy.long)\n'
    (tmp_path / "legs.pine").write_text(
        head + 'strategy.exit("X", "L", profit=100, loss=50, trail_points=20, trail_offset=5)\n')
    (tmp_path / "part.pine").write_text(head + 'strategy.exit("X", "L", qty_percent=50, profit=10)\n')
    p = write(tmp_path, '[[strategies]]\nid = "legs"\npine = "legs.pine"\n')
    assert main(["config", "check", "--no-secrets", str(p)]) == 0
    out = capsys.readouterr().out
    assert "strategy.exit legs: stop, take-profit, trailing (engine-side" in out
    p = write(tmp_path, '[[strategies]]\nid = "part"\npine = "part.pine"\n', "part.toml")
    assert main(["config", "check", "--no-secrets", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:strategies[0] (part):" in err and "part.pine:5: cannot run live" in err
