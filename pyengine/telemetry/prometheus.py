"""Prometheus text exposition (format 0.0.4) of the registry, for ``GET /metrics``.
Counters become ``pyengine_<name>_total``, gauges ``pyengine_<name>``, latency histograms
summaries in seconds (cumulative since start) with quantiles 0.5, 0.99 and 0.999."""
from __future__ import annotations

from pyengine.telemetry.histogram import QUANTILES, LatencyHistogram
from pyengine.telemetry.metrics import Labels, Registry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _number(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return repr(float(v)) if isinstance(v, float) else str(v)


def render(registry: Registry) -> str:
    out: list[str] = []
    typed: set[str] = set()

    def header(name: str, kind: str) -> None:
        if name not in typed:
            typed.add(name)
            out.append(f"# TYPE {name} {kind}")

    for (name, labels), c in sorted(registry.counters.items()):
        full = f"pyengine_{name}_total"
        header(full, "counter")
        out.append(f"{full}{_labels(labels)} {c.value}")
    for (name, labels), g in sorted(registry.gauges.items()):
        full = f"pyengine_{name}"
        header(full, "gauge")
        out.append(f"{full}{_labels(labels)} {_number(g.value)}")
    for (name, labels), pair in sorted(registry.histograms.items()):
        full = f"pyengine_{name}_seconds"
        header(full, "summary")
        # include the not yet rolled-up window so a scrape never misses samples
        h = LatencyHistogram()
        h.merge(pair.total)
        h.merge(pair.window)
        for q, v in zip(QUANTILES, h.percentiles()):
            out.append(f"{full}{_labels(labels, (('quantile', _number(q / 100)),))} {v / 1e9!r}")
        out.append(f"{full}_sum{_labels(labels)} {h.mean * h.count / 1e9!r}")
        out.append(f"{full}_count{_labels(labels)} {h.count}")
    out.append("")
    return "\n".join(out)
