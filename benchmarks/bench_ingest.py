"""Sustained request rate of `coinfactor.data.sources.download` against the local fake venue.

    python benchmarks/bench_ingest.py [--rate-limit-ms 50] [--rounds 4]

Every request in the run costs 1 in ccxt's Binance weights (klines with limit <= 99,
fundingRate, exchangeInfo), so the allowed rate is 1000 / rate_limit_ms requests/s. The
server records arrival times; the sustained rate of a run is (n - 1) / (last - first), pooled
over the runs (client and store set-up between runs is excluded). A baseline in the
same process drives the raw ccxt client in a tight loop at the same rateLimit (no paging logic,
no store writes), which is the best ccxt's limiter can do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from coinfactor.data.sources import CcxtSource, download  # noqa: E402
from coinfactor.data.store import Store  # noqa: E402
from support.fakevenue import FakeVenue, ms, serve  # noqa: E402


def _rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def _pooled_rate(rounds: list[list[float]]) -> float:
    """Requests per second within runs (the set-up between runs is not ingestion)."""
    return sum(len(t) - 1 for t in rounds) / sum(t[-1] - t[0] for t in rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate-limit-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    allowed = 1000.0 / args.rate_limit_ms
    symbols = ["1000PEPEUSDT", "BTCUSDT", "ETHUSDT", "HYPEUSDT"]
    for venue in serve(FakeVenue(now_ms=ms(2026, 3, 5, 0, 0))):
        # baseline: raw ccxt klines calls, same limiter
        src = CcxtSource("binanceusdm", base_url=venue.url, rate_limit_ms=args.rate_limit_ms)
        src.markets()
        venue.requests.clear()
        t_end = time.perf_counter() + 3.0
        while time.perf_counter() < t_end:
            src.client.fapiPublicGetKlines({"symbol": "BTCUSDT", "interval": "1h",
                                            "startTime": ms(2026, 3, 1, 0, 0), "limit": 24})
        base = _rate([r.t for r in venue.requests])

        rounds: list[list[float]] = []
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.rounds):
                venue.requests.clear()
                with Store(Path(tmp) / f"bench{i}.duckdb") as store:
                    rep = download("binanceusdm", symbols=symbols, since="2026-03-01",
                                   base_url=venue.url, store=store, snapshot=False,
                                   rate_limit_ms=args.rate_limit_ms, page_limit=12,
                                   funding_page_limit=5)
                    assert not rep.failed, rep.summary()
                rounds.append([r.t for r in venue.requests])
        wall = time.perf_counter() - t0
        times = [t for r in rounds for t in r]
        ours = _pooled_rate(rounds)
    print(f"allowed rate          : {allowed:8.2f} req/s (rateLimit {args.rate_limit_ms} ms, "
          "cost 1)")
    print(f"baseline raw ccxt loop: {base:8.2f} req/s = {base / allowed:6.1%} of allowed")
    print(f"download() sustained  : {ours:8.2f} req/s = {ours / allowed:6.1%} of allowed "
          f"({len(times)} requests, {args.rounds} rounds x {len(symbols)} symbols, "
          f"{wall:.1f} s wall)")
    print(f"download() / baseline : {ours / base:6.1%}")


if __name__ == "__main__":
    main()
