"""No piece of a secret survives: whatever a hostile server echoes, wherever it lands.

The fake venue echoes the caller's Tiingo token after n filler characters (n = 0, 1, 2, ... on
successive answers, so that every cut length meets it), cut at every offset, and in headers
and URLs; then every output is searched for any 6-character piece of the token: the CLI's
stdout and stderr, log records (DEBUG, every logger: httpx and httpcore log response
headers), warnings, exception texts and chains, the report, the store file and every file
the run leaves.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.cli._app import console
from coinfactor.core.errors import SourceError
from coinfactor.data.sources import RetryPolicy, TiingoSource, download
from coinfactor.data.store import Store
from support.fakevenue import FakeVenue, ms, serve

pytestmark = pytest.mark.network  # a local 127.0.0.1 server, never the internet

KEY = "Zq7Wm2Rk9Tx4Lp8Vc3Nb6Hj1Fd5Gs0Ye"  # random-looking, like a real Tiingo token
FRAGMENT = 6
FAST = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)
# answers alternate 500, 500, 401 (see FakeVenue._echo_secret): with two attempts a symbol ends
# on a 500 (retried, then given up) or a 401 (fatal); 70 symbols see 105 answers, the key after
# 140..244 filler characters: across the cuts at 120, 160, 200 and 300 characters (earlier
# offsets put the whole key inside every cut: tests/data/sources/test_scrub.py)
SYMBOLS = [f"s{i:03d}usdt" for i in range(70)]
FIRST = 140


def pieces(secret: str) -> list[str]:
    return [secret[i:i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)]


def leaks(text: str, secret: str = KEY) -> list[str]:
    return [p for p in pieces(secret) if p in text]


def leaks_bytes(data: bytes, secret: str = KEY) -> list[str]:
    return [p for p in pieces(secret) if p.encode() in data]


@pytest.fixture
def venue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVenue]:
    monkeypatch.setenv("TIINGO_API_KEY", KEY)
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(console, "width", 200)
    yield from serve(FakeVenue(now_ms=ms(2026, 3, 3, 13, 30), token=KEY))


def test_a_server_echoing_the_key_leaks_no_piece_of_it(venue: FakeVenue, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    venue.inject("echo_secret", path="/tiingo/", times=None)
    venue.echo_count = FIRST
    store = Store(tmp_path / "db.duckdb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = download("tiingo", symbols=SYMBOLS, since="2026-03-01", timeframe="4h",
                       base_url=venue.url, store=store, retry=FAST, page_limit=6,
                       tiingo_exchanges=["BINANCE"])
        src = TiingoSource(base_url=venue.url, retry=FAST)
        with pytest.raises(SourceError) as info:
            src.tickers()
    assert venue.echo_count >= FIRST + 100  # the key was echoed at every offset 140..240
    assert all(s.status == "failed" for s in rep.symbols)
    assert any("HTTP 500" in s.reason for s in rep.symbols)
    assert any("HTTP 401" in s.reason for s in rep.symbols)
    chain: list[BaseException] = []
    exc: BaseException | None = info.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    texts = [str(e) + repr(e) for e in chain] + [rep.summary(), repr(src), str(rep.table())]
    texts += [s.reason for s in rep.symbols]
    texts += [str(w.message) for w in caught]
    records = caplog.records
    assert any(r.name.startswith("httpcore") for r in records)  # headers were logged
    texts += [r.getMessage() + str(r.args) + (r.exc_text or "") for r in records]
    texts.append(caplog.text)
    found = {p for t in texts for p in leaks(t)}
    assert not found, found
    store.close()
    for path in tmp_path.rglob("*"):  # the store, its WAL, the pending file, anything else
        if path.is_file():
            assert not leaks_bytes(path.read_bytes()), path
    assert all("token" not in r.params for r in venue.requests)  # the key is a header only


def test_the_cli_prints_no_piece_of_the_key(venue: FakeVenue, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    venue.inject("echo_secret", path="/tiingo/", times=None)
    venue.echo_count = FIRST
    runner = CliRunner()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = runner.invoke(app, ["download", "--exchange", "tiingo", "--symbols",
                                  ",".join(SYMBOLS), "--since", "2026-03-01", "--timeframe",
                                  "4h", "--base-url", venue.url, "--retries", "2",
                                  "--backoff", "0.001", "--tiingo-exchange", "BINANCE"])
    assert res.exit_code == 1, res.output
    assert "HTTP 500" in res.output and "HTTP 401" in res.output and "***" in res.output
    out = res.output + (res.stderr if res.stderr_bytes is not None else "")
    assert not leaks(out), leaks(out)
    assert not leaks(caplog.text)
    assert not [w for w in caught if leaks(str(w.message))]
    for path in tmp_path.rglob("*"):  # the home: the store and anything beside it
        if path.is_file():
            assert not leaks_bytes(path.read_bytes()), path
