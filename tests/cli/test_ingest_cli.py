"""``coinfactor download`` / ``coinfactor update`` through typer's CliRunner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.cli._app import console
from coinfactor.data.store import Store
from support.fakevenue import FakeVenue, ms, serve

pytestmark = pytest.mark.network  # a local 127.0.0.1 server, never the internet

runner = CliRunner()


@pytest.fixture
def venue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVenue]:
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(console, "width", 200)
    yield from serve(FakeVenue(now_ms=ms(2025, 7, 2, 12, 30)))  # the venue's own caps


def test_download_then_update(venue: FakeVenue) -> None:
    args = ["--exchange", "hyperliquid", "--symbols", "BTC,ETH", "--timeframe", "1h",
            "--base-url", venue.url, "--rate-limit-ms", "0"]
    res = runner.invoke(app, ["download", *args, "--since", "2025-07-01", "--no-snapshot"])
    assert res.exit_code == 0, res.output
    assert "update" not in res.output and "ok" in res.output and "ETA" in res.output
    first = Store().query_bars(exchange="hyperliquid")
    assert first["symbol"].unique().sort().to_list() == ["BTC", "ETH"]
    assert first.height == 2 * 36  # 2025-07-01 00:00 .. 07-02 11:00 closed by 12:30
    venue.now_ms = ms(2025, 7, 3, 0, 30)
    res = runner.invoke(app, ["update", "--exchange", "hyperliquid", "--base-url", venue.url,
                              "--rate-limit-ms", "0"])
    assert res.exit_code == 0, res.output
    assert "BTC" in res.output and "ETH" in res.output
    assert Store().query_bars(exchange="hyperliquid").height == 2 * 48
    assert "24 new bars" in res.output  # 12 new hourly bars for each of the two symbols
    res = runner.invoke(app, ["store", "info"])
    assert "hyperliquid" in res.output


def test_failures_exit_1_with_reasons(venue: FakeVenue) -> None:
    venue.inject("500", path="candleSnapshot", symbol="ETH", times=None)
    res = runner.invoke(app, ["download", "--exchange", "hyperliquid", "--symbols", "BTC,ETH,XYZ",
                              "--since", "2025-07-01", "--base-url", venue.url,
                              "--rate-limit-ms", "0", "--no-funding", "--no-snapshot",
                              "--retries", "2", "--backoff", "0.01"])
    assert res.exit_code == 1, res.output
    assert "failed" in res.output and "has no swap market 'XYZ'" in res.output
    assert "gave up after 2 attempts" in res.output
    res = runner.invoke(app, ["download", "--exchange", "hyperliquid", "--symbols", "BTC",
                              "--since", "2025-07-01", "--base-url", venue.url, "--retries", "0"])
    assert res.exit_code == 2 and "max_attempts must be >= 1" in res.output


def test_bad_input_is_a_clean_error(venue: FakeVenue) -> None:
    res = runner.invoke(app, ["download", "--exchange", "hyperliquid", "--symbols", "BTC;drop",
                              "--since", "2025-07-01", "--base-url", venue.url])
    assert res.exit_code == 2 and "invalid symbol" in res.output
    res = runner.invoke(app, ["download", "--exchange", "hyperliquid", "--symbols", "BTC",
                              "--since", "yesterday", "--base-url", venue.url])
    assert res.exit_code == 2 and "expected an ISO date" in res.output


def test_source_options_build_one_settings() -> None:
    from coinfactor.cli._ingest import _SETTINGS, _source_settings
    from coinfactor.data.sources import RetryPolicy, SourceSettings

    unset = dict.fromkeys(_SETTINGS) | {"exchange": "tiingo"}
    assert _source_settings(unset) == SourceSettings() and unset == {"exchange": "tiingo"}
    given = {"base_url": "http://127.0.0.1:9", "rate_limit_ms": 0.0, "timeout_ms": 500,
             "retries": 2, "backoff": None, "tiingo_exchange": "BINANCE"}
    assert _source_settings(given) == SourceSettings(
        base_url="http://127.0.0.1:9", rate_limit_ms=0.0, timeout_ms=500,
        retry=RetryPolicy(max_attempts=2), tiingo_exchanges=("BINANCE",))
