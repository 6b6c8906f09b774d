"""Benchmark ``rolling_ols``: 100 coins x 525,600 one-minute bars x 10 factors, window 1440.

Data are synthetic (Gaussian factor returns of 1e-3 per bar, coin returns = factors x random
loadings + noise; five coins are listed late, so their first windows have missing bars).
Prints, in one run:

1. ``rolling_ols`` on all coins at once, with R²: wall time, CPU time, peak RSS growth during
   the call;
2. statsmodels ``RollingOLS`` on one coin of the same data (run on the first ``--sm-bars``
   bars and extrapolated linearly, its cost being linear in bars), and the per-coin ratio;
   the largest parameter difference on that coin and on a late-listed coin around its
   listing (windows with missing bars);
3. the package's plain per-window reference (``coinfactor.rolling.rolling_ols_reference``) on
   ``--ref-windows`` windows of two coins around a late listing: the largest parameter
   difference and whether ranks, counts and unfitted windows agree;
4. the seed notebook's per-window loop (pandas rolling windows, ``inv(X'X + 1e-6 I) X'y``, R²,
   adjusted R², ``df.loc`` writes) on 2,000 windows of one coin, extrapolated to all windows
   of all coins, and the ratio;
5. to read the time: what merely allocating the memory pages of the outputs' size costs on
   this machine, 5 s after the results were freed (virtual machines with free page reporting
   return freed memory to the host, which supplies it again at 0.5-1 GB/s per thread; a call
   gets part of its memory from pages the host still backs, the rest at that rate, and no
   implementation producing these outputs avoids it);
6. the CPU load average while measuring (the machine may be shared).

Run::

    PYTHONPATH=src python benchmarks/bench_rolling_ols.py
    PYTHONPATH=src python benchmarks/bench_rolling_ols.py --bars 52560   # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import threading
import time

import numpy as np
import pandas as pd
from statsmodels.regression.rolling import RollingOLS

from coinfactor.rolling import rolling_ols, rolling_ols_reference
from coinfactor.rolling._pages import fill_rows, result_array


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakRSS:
    """Sample the resident set size every few milliseconds in a thread."""

    def __enter__(self) -> _PeakRSS:
        self.start = _rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _data(n_bars: int, n_coins: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = 1e-3 * rng.standard_normal((n_bars, k))
    y = x @ rng.standard_normal((k, n_coins)) + 1e-3 * rng.standard_normal((n_bars, n_coins))
    y[: n_bars // 5, :5] = np.nan        # five late listings
    return y, x


def _seed_style(df: pd.DataFrame, xvar: list[str], yvar: str, window: int,
                n_windows: int) -> float:
    """Per-window loop as seed 000 does it; returns seconds per full window."""
    ys = df[yvar].rolling(window)
    xs = df[xvar].rolling(window)
    pairs = itertools.islice(zip(xs, ys, strict=True), window - 1, window - 1 + n_windows)
    t0 = time.perf_counter()
    for i, (xw, yw) in enumerate(pairs):
        if xw.dropna().empty or yw.dropna().empty:
            continue
        x = xw.values.astype("float").reshape(-1, len(xvar))
        x = np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)
        y = yw.values.astype("float").reshape(-1, 1)
        coefs = np.linalg.inv(x.T @ x + 1e-6 * np.eye(x.shape[1])) @ (x.T @ y)
        yhat = x @ coefs
        var_y = np.sum((y - y.mean()) ** 2)
        r2 = 1 - np.sum((y - yhat) ** 2) / var_y
        r2_adj = 1 - (1 - r2) * (x.shape[0] - 1) / (x.shape[0] - len(xvar) - 1)
        row = window + i
        df.loc[row, "Rsqrd"] = r2
        df.loc[row, "RsqrdAdj"] = r2_adj
        df.loc[row, "constant"] = coefs[0, 0]
        for j, name in enumerate(xvar):
            df.loc[row, name + "_coef"] = coefs[j + 1, 0]
    return (time.perf_counter() - t0) / n_windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=525_600)
    parser.add_argument("--coins", type=int, default=100)
    parser.add_argument("--factors", type=int, default=10)
    parser.add_argument("--window", type=int, default=1440)
    parser.add_argument("--sm-bars", type=int, default=100_000)
    parser.add_argument("--seed-windows", type=int, default=2_000)
    parser.add_argument("--ref-windows", type=int, default=2_000)
    args = parser.parse_args()
    n, m, k, w = args.bars, args.coins, args.factors, args.window
    print(f"machine: {os.cpu_count()} CPUs; load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"synthetic data: {m} coins x {n:,} bars x {k} factors, window {w} "
          f"(5 coins listed late)")
    y, x = _data(n, m, k)

    with _PeakRSS() as mem:
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        res = rolling_ols(y, x, w)
        r2 = res.rsquared          # R² is computed in the same pass
        t_ours = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    # the arrays the call writes (nobs and rank are built from compact forms when read)
    out_bytes = res.params.nbytes + r2.nbytes + res.ssr.nbytes
    print(f"\nrolling_ols, all {m} coins, params + R²: {t_ours:.2f} s "
          f"(target <= 5 s); peak RSS growth {(mem.peak - mem.start) / 1e9:.2f} GB "
          f"(target <= 8 GB; outputs {out_bytes / 1e9:.2f} GB, inputs "
          f"{(y.nbytes + x.nbytes) / 1e9:.2f} GB)")
    cpu_ours = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(f"  CPU time of the call (all threads): user {cpu1.ru_utime - cpu0.ru_utime:.2f} s, "
          f"system {cpu1.ru_stime - cpu0.ru_stime:.2f} s")
    print(f"  load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    # statsmodels on one coin (a coin with no missing bars)
    j = m - 1
    n_sm = min(args.sm_bars, n)
    exog = np.column_stack([np.ones(n_sm), x[:n_sm]])
    t0, c0 = time.perf_counter(), _cpu()
    ref = RollingOLS(y[:n_sm, j], exog, window=w).fit()
    t_sm = (time.perf_counter() - t0) * n / n_sm
    cpu_sm = (_cpu() - c0) * n / n_sm
    ref_params = np.asarray(ref.params)
    # relative to each coefficient's scale (the synthetic intercepts are ~0)
    diff = np.nanmax(np.nanmax(np.abs(ref_params - res.params[:n_sm, j]), axis=0) /
                     np.nanmax(np.abs(ref_params), axis=0))
    per_coin = t_ours / m
    print(f"\nstatsmodels RollingOLS, one coin: {t_sm:.1f} s for {n:,} bars "
          f"(measured on {n_sm:,}, extrapolated); ours per coin {per_coin * 1e3:.1f} ms; "
          f"ratio {t_sm / per_coin:,.0f}x (target >= 500x); max rel. param diff {diff:.1e}")
    print(f"  in CPU time: statsmodels {cpu_sm:.1f} s per coin, ours {cpu_ours / m * 1e3:.1f} ms "
          f"per coin; ratio {cpu_sm / (cpu_ours / m):,.0f}x")
    # a late-listed coin around its listing: its first windows have missing bars (own sums)
    lo, hi = max(0, n // 5 - 2 * w), min(n, n // 5 + 3 * w)
    with np.errstate(divide="ignore", invalid="ignore"):
        late = RollingOLS(y[lo:hi, 0], np.column_stack([np.ones(hi - lo), x[lo:hi]]),
                          window=w, missing="drop").fit()
    late_ref = np.asarray(late.params)[w - 1 :]
    late_ours = res.params[lo + w - 1 : hi, 0]
    same_nan = bool(np.array_equal(np.isnan(late_ref), np.isnan(late_ours)))
    late_diff = np.nanmax(np.nanmax(np.abs(late_ref - late_ours), axis=0) /
                          np.nanmax(np.abs(late_ref), axis=0))
    print(f"  a coin listed late, {hi - lo - w + 1:,} windows around its listing (missing bars "
          f"in {int(np.sum(np.isfinite(late_ref[:, 0]) & (np.asarray(late.nobs)[w - 1:] < w))):,}"
          f" fitted ones): max rel. param diff {late_diff:.1e}, same unfitted windows "
          f"{same_nan}")

    # the package's per-window reference on windows of a late-listed coin and a full one
    lo = max(0, n // 5 - args.ref_windows // 2 - w + 1)
    hi = min(n, lo + w - 1 + args.ref_windows)
    cols = [0, m - 1]
    t0 = time.perf_counter()
    plain = rolling_ols_reference(y[lo:hi, cols], x[lo:hi], w)
    t_ref = time.perf_counter() - t0
    # fast windows from the full call (same windows: rows lo + w - 1 .. hi - 1)
    ours = res.params[lo + w - 1 : hi][:, cols]
    theirs = plain.params[w - 1 :]
    same = bool(np.array_equal(np.isnan(ours), np.isnan(theirs))
                and np.array_equal(res.rank[lo + w - 1 : hi][:, cols], plain.rank[w - 1 :])
                and np.array_equal(res.nobs[lo + w - 1 : hi][:, cols], plain.nobs[w - 1 :]))
    with np.errstate(invalid="ignore"):
        ref_diff = np.nanmax(np.nanmax(np.abs(ours - theirs), axis=(0, 1)) /
                             np.nanmax(np.abs(theirs), axis=(0, 1)))
    print(f"\nrolling_ols_reference (plain per-window loop), {hi - lo - w + 1:,} windows x 2 "
          f"coins around a listing: {t_ref:.1f} s; max rel. param diff {ref_diff:.1e}; same "
          f"ranks, counts and unfitted windows {same}")

    # seed-style loop on 2,000 windows of one coin
    n_seed = args.seed_windows
    names = [f"f{i}" for i in range(k)]
    df = pd.DataFrame(x[: w + n_seed - 1], columns=names)
    df["ret"] = y[: w + n_seed - 1, j]
    c0 = _cpu()
    per_window = _seed_style(df, names, "ret", w, n_seed)
    cpu_window = (_cpu() - c0) / n_seed
    total = per_window * (n - w + 1) * m
    print(f"\nseed-style per-window loop: {per_window * 1e3:.2f} ms per window "
          f"({n_seed:,} windows); extrapolated to {(n - w + 1) * m:,} windows: "
          f"{total / 3600:.1f} h; ratio {total / t_ours:,.0f}x")
    print(f"  in CPU time: {cpu_window * 1e3:.2f} ms per window; ratio "
          f"{cpu_window * (n - w + 1) * m / cpu_ours:,.0f}x")
    # the worst case of the call's page faults: allocating memory pages of the outputs' size
    # once the host has taken them back (results freed, then a pause for the kernel to report
    # the free pages to the host)
    del res, r2
    time.sleep(5)
    n_cpu = os.cpu_count() or 1
    probe = result_array((out_bytes // 8,))
    cuts = np.linspace(0, probe.shape[0], n_cpu + 1).astype(int)
    t0 = time.perf_counter()
    fillers = [threading.Thread(target=fill_rows, args=(probe, a, b))
               for a, b in itertools.pairwise(cuts)]
    for thread in fillers:
        thread.start()
    for thread in fillers:
        thread.join()
    t_touch = time.perf_counter() - t0
    del probe
    print(f"\nfor reference: merely allocating the memory pages of {out_bytes / 1e9:.2f} GB (the "
          f"outputs' size) again, 5 s after the results were freed, takes {t_touch:.2f} s on "
          f"{n_cpu} threads here now (virtual machines that report free memory to the host "
          f"get it back slowly); the call took {t_ours:.2f} s")
    print(f"\nload average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
