"""Telemetry sinks. Each one is a blocking ``write(points)`` run by a ``SinkWorker`` in a
worker thread, so a slow or dead store never touches the trio thread."""
