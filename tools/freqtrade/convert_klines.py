"""Convert the bundled real klines into Freqtrade's data format (offline).

    .venv/bin/python tools/freqtrade/convert_klines.py [--datadir tools/freqtrade/user_data/data/binance]
"""
from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dsl.freqtrade.data import TIMEFRAMES, convert  # noqa: E402
from pyengine import bundled  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datadir", default=str(ROOT / "tools/freqtrade/user_data/data/binance"))
    ap.add_argument("--volume-fill", type=float, default=1.0,
                    help="volume written where the source has none (the bundled ZEC file has none)")
    args = ap.parse_args()
    for path in convert(bundled.ZECUSDT_1M, "ZEC/USDT", pathlib.Path(args.datadir), TIMEFRAMES, args.volume_fill):
        print(f"wrote {path}")
    print(f"note: the bundled ZECUSDT klines carry no volume; volume is set to {args.volume_fill}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
