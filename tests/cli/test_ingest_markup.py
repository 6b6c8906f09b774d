"""The ingest summary prints venue text literally: rich markup in an error body is text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coinfactor.cli import app
from coinfactor.cli._app import console
from support.fakevenue import FakeVenue, ms, serve

pytestmark = pytest.mark.network  # a local 127.0.0.1 server, never the internet

runner = CliRunner()
ARGS = ["download", "--exchange", "hyperliquid", "--since", "2025-07-01", "--rate-limit-ms",
        "0", "--no-funding", "--no-snapshot", "--retries", "1"]


@pytest.fixture
def venue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVenue]:
    monkeypatch.setenv("COINFACTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(console, "width", 2000)  # no folding: the cells stay on one line
    yield from serve(FakeVenue(now_ms=ms(2025, 7, 2, 12, 30)))


@pytest.mark.parametrize("body", [
    "gateway [/bold] closed",
    "see [link=https://evil.example]click here[/link]",
    "[red]not red[/red] [bold]not bold",
    "unbalanced [/] and [/red] and \\[escaped]",
])
def test_venue_markup_is_printed_literally(venue: FakeVenue, body: str) -> None:
    venue.inject("body", path="candleSnapshot", symbol="ETH", times=None, status=400,
                 value=body)
    res = runner.invoke(app, [*ARGS, "--symbols", "BTC,ETH", "--base-url", venue.url])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 1, res.output  # ETH failed; no MarkupError after the download
    assert body in res.output  # literally, brackets and all
    assert "\x1b]8;" not in res.output  # no live terminal hyperlink


def test_a_hyperlink_is_not_made_live_on_a_terminal(venue: FakeVenue,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "_force_terminal", True)
    body = "[link=https://evil.example]click[/link]"
    venue.inject("body", path="candleSnapshot", symbol="ETH", times=None, status=400,
                 value=body)
    res = runner.invoke(app, [*ARGS, "--symbols", "ETH", "--base-url", venue.url])
    assert res.exit_code == 1
    assert "\x1b]8;" not in res.output and "evil.example" in res.output
