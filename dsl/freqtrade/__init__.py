"""The Freqtrade bridge (GPL-3 Freqtrade is imported only inside this package, and only where it
is needed: ``ftrun``, ``strategy``, ``offline.run_freqtrade``, ``data.convert``).

- ``export``: a Freqtrade strategy's source -> Pine subset (``pyengine ft-export``), read with ``ast``.
- ``risk_rules``: Freqtrade's backtesting order rules as Pine ``strategy.*`` calls.
- ``offline``: Freqtrade with markets from the bundled exchangeInfo over loopback.
- ``data``: bundled klines -> Freqtrade data files.
- ``ftrun``: Freqtrade backtesting in process; ``parity`` and ``compare``: ``pyengine parity``.
- ``strategy``: ``DslStrategy``, any Pine-subset strategy inside Freqtrade.
"""
