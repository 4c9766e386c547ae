from hypothesis import given, strategies as st

from pyengine.ids import (BINANCE_PATTERN, MAX_LEG, MAX_SEQ, client_order_id, decision_seq,
                          parse_client_order_id, strategy_tag, strategy_tags)
import pytest


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=30),
       st.integers(0, MAX_SEQ), st.integers(0, MAX_LEG), st.text(max_size=20))
def test_ids_are_legal_deterministic_and_parse_back(strategy, symbol, seq, leg, ns):
    coid = client_order_id(strategy, symbol, seq, leg, namespace=ns)
    assert BINANCE_PATTERN.match(coid)
    assert len(coid) <= 36
    assert coid == client_order_id(strategy, symbol, seq, leg, namespace=ns)
    parsed = parse_client_order_id(coid)
    assert (parsed.seq, parsed.leg) == (seq, leg)
    assert parsed.tag == strategy_tag(strategy, symbol, ns)


def test_ids_differ_by_every_input():
    base = client_order_id("ema", "BTCUSDT", 1000, 0)
    assert len({base, client_order_id("ema2", "BTCUSDT", 1000, 0),
                client_order_id("ema", "ETHUSDT", 1000, 0),
                client_order_id("ema", "BTCUSDT", 1001, 0),
                client_order_id("ema", "BTCUSDT", 1000, 1),
                client_order_id("ema", "BTCUSDT", 1000, 0, namespace="acct2")}) == 6


def test_ids_do_not_collide_on_separator_tricks():
    assert strategy_tag("a", "bc") != strategy_tag("ab", "c")


def test_foreign_ids_are_not_ours():
    assert parse_client_order_id("6gCrw2kRUAF9CvJDGP16IP") is None
    assert parse_client_order_id("web_123") is None


@pytest.mark.parametrize("args", [("", "BTCUSDT", 1), ("s", "", 1), ("s", "BTCUSDT", -1),
                                  ("s", "BTCUSDT", MAX_SEQ + 1)])
def test_bad_inputs_raise(args):
    with pytest.raises(ValueError):
        client_order_id(*args)


def test_decision_seq_from_bars_fits_and_orders():
    t = 4_102_444_800_000                      # year 2100, in ms
    assert decision_seq(t, 999) <= MAX_SEQ
    assert decision_seq(t, 0) < decision_seq(t, 1) < decision_seq(t + 1000, 0)
    coid = client_order_id("ema", "BTCUSDT", decision_seq(t, 999), MAX_LEG)
    assert BINANCE_PATTERN.match(coid)
    with pytest.raises(ValueError):
        decision_seq(t, 1000)


def test_strategy_tags_map_back_to_strategies():
    tags = strategy_tags([("ema", ["BTCUSDT", "ETHUSDT"]), ("rsi", ["BTCUSDT"])], "acct")
    coid = client_order_id("rsi", "BTCUSDT", 5, namespace="acct")
    assert tags[parse_client_order_id(coid).tag] == "rsi" and len(tags) == 3
