"""Shared replays of the bundled BTCUSDT + ETHUSDT recordings (a directory of both)."""
from __future__ import annotations

import pathlib

import pytest

from pyengine import bundled
from pyengine.engine.paper import LIBRARY, STRATEGIES
from pyengine.replay import replay, source
from pyengine.replay.plan import plan


@pytest.fixture(scope="session")
def recording_dir(tmp_path_factory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("recording")
    for f in (bundled.BTCUSDT_FEED, bundled.ETHUSDT_FEED):
        (d / f.name).symlink_to(f)
    return d


@pytest.fixture(scope="session")
def recording(recording_dir):
    return source.load(recording_dir)


@pytest.fixture(scope="session")
def config_file(tmp_path_factory) -> pathlib.Path:
    """The default strategies with a one-order-a-second cap, so the decision log holds risk
    refusals as well as accepted orders."""
    path = tmp_path_factory.mktemp("config") / "engine.toml"
    strategies = "".join(f"""
[[strategies]]
id = "{sid}_1s"
pine = "{LIBRARY / pine}"
symbols = ["BTCUSDT", "ETHUSDT"]
interval = "1s"
""" for sid, pine in STRATEGIES)
    path.write_text(f"""
[universe]
symbols = ["BTCUSDT", "ETHUSDT"]
{strategies}
[risk]
max_orders_per_second = 1
""")
    return path


@pytest.fixture(scope="session")
def session_cfg(recording, config_file):
    return plan(recording, config_file, None)[0]


@pytest.fixture(scope="session")
def first_replay(recording, session_cfg, tmp_path_factory):
    return replay(recording, session_cfg, tmp_path_factory.mktemp("replay-a"))
