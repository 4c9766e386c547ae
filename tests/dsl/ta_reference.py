"""Plain-Python references for the ta.* functions whose definitions are in
dsl/pine-subset.md 10.2-10.4 (sar, alma, cog, rci, percentrank, median, mode, percentiles,
max/min, nvi/pvi, wvad, anchored vwap). Each one recomputes its window from scratch on
every bar, straight from the written formula, so it shares no code or structure with the
VM's incremental kernels. Inputs and outputs are float arrays, na = NaN."""
from __future__ import annotations

import math

import numpy as np

NA = math.nan


def _isna(x) -> bool:
    return x != x


def _out(n):
    return np.full(n, np.nan)


def compacted_windows(src, length):
    """For each bar: the last `length` non-na values (oldest first), or None when the bar's
    value is na or fewer than `length` non-na values exist (the ta.sma na rule)."""
    seen, out = [], []
    for x in src:
        if _isna(x):
            out.append(None)
            continue
        seen.append(x)
        out.append(seen[-length:] if len(seen) >= length else None)
    return out


def bar_windows(src, length):
    """For each bar: the last `length` values including na (oldest first), or None before
    bar length-1 or when the bar's value is na."""
    out = []
    for i, x in enumerate(src):
        out.append(None if i < length - 1 or _isna(x) else list(src[i - length + 1:i + 1]))
    return out


def median(src, length):
    out = _out(len(src))
    for i, w in enumerate(compacted_windows(src, length)):
        if w is not None:
            s = sorted(w)
            out[i] = s[length // 2] if length % 2 else (s[length // 2 - 1] + s[length // 2]) / 2
    return out


def mode(src, length):
    out = _out(len(src))
    for i, w in enumerate(bar_windows(src, length)):
        nums = [v for v in (w or []) if not _isna(v)]
        if nums:
            counts = {}
            for v in nums:
                counts[v] = counts.get(v, 0) + 1
            top = max(counts.values())
            out[i] = min(v for v, c in counts.items() if c == top)
    return out


def _per_sorted_window(src, length, select):
    """select(ascending numeric values of the bar window) for each bar with a window."""
    out = _out(len(src))
    for i, w in enumerate(bar_windows(src, length)):
        if w is not None:
            out[i] = select(sorted(v for v in w if not _isna(v)))  # na sort after numbers
    return out


def percentile_nearest_rank(src, length, pct):
    rank = 1 if pct == 0 else min(max(math.ceil(pct * length / 100), 1), length)
    return _per_sorted_window(src, length,
                              lambda nums: nums[rank - 1] if rank <= len(nums) else NA)


def percentile_linear_interpolation(src, length, pct):
    pos = length * pct / 100 + 0.5  # 1-based position
    if abs(pos - round(pos)) < 1e-9:
        pos = float(round(pos))
    lo = math.floor(pos)
    frac = pos - lo

    def select(nums):
        if pos <= 1:
            return nums[0] if nums else NA
        if pos >= length:
            return nums[-1] if len(nums) == length else NA
        if frac == 0:
            return nums[lo - 1] if lo <= len(nums) else NA
        if len(nums) < length:
            return NA
        return nums[lo - 1] * (1 - frac) + nums[lo] * frac
    return _per_sorted_window(src, length, select)


def percentrank(src, length):
    out = _out(len(src))
    for i in range(length, len(src)):
        x = src[i]
        if _isna(x):
            continue
        prev = src[i - length:i]
        out[i] = 100.0 * sum(1 for v in prev if not _isna(v) and v <= x) / length
    return out


def rci(src, length):
    """Spearman correlation between age order (0 = newest) and descending value rank."""
    out = _out(len(src))
    for i in range(length, len(src)):
        w = list(src[i - length + 1:i + 1])[::-1]  # newest first
        if any(_isna(v) for v in w):
            continue
        # tie groups: ascending, each takes every value < 1e-10 above its smallest member
        groups, ordered = [], sorted(w)
        for v in ordered:
            if groups and v - groups[-1][0] < 1e-10:
                groups[-1].append(v)
            else:
                groups.append([v])
        rank_of, below = {}, 0
        for g in groups:  # rank 0 for the highest value; a group shares its average rank
            for v in g:
                rank_of[v] = (length - 1) - (below + (len(g) - 1) / 2)
            below += len(g)
        ranks = [rank_of[v] for v in w]
        out[i] = 100 * np.corrcoef(np.arange(length), ranks)[0, 1]
    return out


def alma(src, length, offset, sigma, floor=False):
    m = offset * (length - 1)
    if floor:
        m = math.floor(m)
    s = length / sigma
    weights = [math.exp(-((i - m) ** 2) / (2 * s * s)) for i in range(length)]  # oldest first
    out = _out(len(src))
    for i in range(length - 1, len(src)):
        w = src[i - length + 1:i + 1]
        out[i] = sum(wt * v for wt, v in zip(weights, w)) / sum(weights)
    return out


def cog(src, length):
    out = _out(len(src))
    for i, w in enumerate(compacted_windows(src, length)):
        if w is not None and sum(w) != 0:
            newest_first = w[::-1]
            out[i] = -sum(v * (k + 1) for k, v in enumerate(newest_first)) / sum(w)
    return out


def all_time(src, highest):
    out, best = _out(len(src)), NA
    for i, x in enumerate(src):
        if not _isna(x) and (_isna(best) or (x > best if highest else x < best)):
            best = x
        out[i] = best
    return out


def volume_index(close, volume, positive):
    out, idx = _out(len(close)), 1.0
    for i in range(len(close)):
        if i > 0 and close[i] != 0 and close[i - 1] != 0 and not _isna(close[i]) and \
                not _isna(close[i - 1]):
            before = 0.0 if _isna(volume[i - 1]) else volume[i - 1]  # nz(volume[1])
            moved = volume[i] > before if positive else volume[i] < before
            if moved:
                idx = idx + (close[i] - close[i - 1]) / close[i - 1] * idx
        out[i] = idx
    return out


def wvad(open_, high, low, close, volume):
    rng = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rng == 0, np.nan, (close - open_) / rng * volume)


def anchored_vwap(src, volume, anchor, mult=None):
    """[vwap, upper, lower] restarting on anchor bars; na before the first anchor."""
    n = len(src)
    v, up, lo = _out(n), _out(n), _out(n)
    start = None
    for i in range(n):
        if anchor[i]:
            start = i
        if start is None or _isna(src[i]):
            continue
        idx = [k for k in range(start, i + 1) if not _isna(src[k])]
        vol = float(sum(volume[k] for k in idx))
        if vol == 0:
            continue
        mean = sum(src[k] * volume[k] for k in idx) / vol
        v[i] = mean
        if mult is not None:
            var = sum(src[k] ** 2 * volume[k] for k in idx) / vol - mean * mean
            sd = math.sqrt(max(var, 0.0))
            up[i], lo[i] = mean + mult * sd, mean - mult * sd
    return v, up, lo


def sar(high, low, start, inc, top):
    """Wilder's parabolic SAR: na on bar 0, seeded on bar 1 from bars 0 and 1."""
    n = len(high)
    out = _out(n)
    if n < 2:
        return out
    rising = not high[0] > high[1]
    af = start
    level = low[0] if rising else high[0]
    ep = high[1] if rising else low[1]
    out[1] = level
    for i in range(2, n):
        nxt = level + af * (ep - level)
        if rising:
            if low[i] <= nxt:
                rising, af = False, start
                nxt = max(ep, high[i], high[i - 1], high[i - 2])
                ep = low[i]
            else:
                nxt = min(nxt, low[i - 1], low[i - 2])
                if high[i] > ep:
                    ep, af = high[i], min(af + inc, top)
        else:
            if high[i] >= nxt:
                rising, af = True, start
                nxt = min(ep, low[i], low[i - 1], low[i - 2])
                ep = high[i]
            else:
                nxt = max(nxt, high[i - 1], high[i - 2])
                if low[i] < ep:
                    ep, af = low[i], min(af + inc, top)
        level = nxt
        out[i] = level
    return out
