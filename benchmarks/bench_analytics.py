"""Metrics and report speed, each against a baseline run in the same process.

    PYTHONPATH=src python benchmarks/bench_analytics.py

1. coinfactor's sharpe/sortino/max_drawdown/annual_return on 1,000,000 hourly returns vs
   empyrical-reloaded's on the same array (ratio < 1: coinfactor faster).
2. write_report on a carry run directory vs rendering the same number of figures with plain
   matplotlib (the floor: a report is mostly PNG rendering).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import empyrical as ep
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from coinfactor import analytics as an
from coinfactor.report import write_report


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_metrics() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.0001, 0.01, 1_000_000)
    ppy = 8760.0
    pairs = {
        "sharpe_ratio": (lambda: an.sharpe_ratio(r, "1h"),
                         lambda: ep.sharpe_ratio(r, annualization=ppy)),
        "sortino_ratio": (lambda: an.sortino_ratio(r, "1h"),
                          lambda: ep.sortino_ratio(r, annualization=ppy)),
        "max_drawdown": (lambda: an.max_drawdown(r), lambda: ep.max_drawdown(r)),
        "annual_return": (lambda: an.annual_return(r, "1h"),
                          lambda: ep.annual_return(r, annualization=ppy)),
    }
    print("metric            coinfactor  empyrical  ratio   (1e6 returns, best of 5)")
    for name, (ours, ref) in pairs.items():
        a, b = best(ours), best(ref)
        print(f"{name:<16} {a * 1e3:9.1f}ms {b * 1e3:8.1f}ms  {a / b:5.2f}")


def bench_report() -> None:
    from coinfactor.studies import STUDIES
    from coinfactor.studies._demo import run_demo

    if "carry" not in STUDIES:
        print("report: carry study not registered; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        demo = run_demo(Path(tmp), studies=["carry"])
        demo_s = time.perf_counter() - t
        run_dir = demo.runs[0].run_dir
        n_fig = (run_dir / "report.html").read_text().count("<img ")
        ours = best(lambda: write_report(run_dir), repeat=3)
        x = np.arange(800)
        y = np.cumsum(np.random.default_rng(0).normal(size=800))

        def baseline() -> None:
            for _ in range(n_fig):
                fig = Figure(figsize=(9, 3.2))
                FigureCanvasAgg(fig)
                fig.subplots().plot(x, y)
                fig.savefig(tempfile.SpooledTemporaryFile(), format="png", dpi=96)

        base = best(baseline, repeat=3)
    print(f"carry demo run (load + run + write + report + index): {demo_s:.2f}s")
    print(f"write_report({n_fig} figures): {ours:.2f}s; plain matplotlib {n_fig} line PNGs: "
          f"{base:.2f}s; ratio {ours / base:.2f}")


if __name__ == "__main__":
    bench_metrics()
    bench_report()
