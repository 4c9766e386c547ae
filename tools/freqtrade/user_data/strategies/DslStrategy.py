"""A Pine-subset strategy (``dsl_strategy_file`` in the config) run by pyengine's VM inside Freqtrade."""
from dsl.freqtrade.strategy import DslStrategyBase


class DslStrategy(DslStrategyBase):
    pass
