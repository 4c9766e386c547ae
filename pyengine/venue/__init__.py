"""Exchange connectors. One subpackage per venue (``binance``)."""
