"""Every numeric source option is checked when it is given: finite, in range, a number.

``nan`` passes ``value < 0`` and ``value <= 0`` checks (every comparison with NaN is false),
``inf`` passes them too, and ``True`` is an ``int``: each is refused with the setting named.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from coinfactor.core.errors import ConfigError
from coinfactor.data.sources import RetryPolicy, SourceSettings, download, update
from coinfactor.data.store import Store

NAN, INF = math.nan, math.inf
BAD_SETTINGS = [
    ("timeout_ms", 0), ("timeout_ms", -5), ("timeout_ms", NAN), ("timeout_ms", INF),
    ("timeout_ms", True), ("timeout_ms", "1000"),
    ("rate_limit_ms", NAN), ("rate_limit_ms", INF), ("rate_limit_ms", -1.0),
    ("rate_limit_ms", False),
    ("request_deadline_ms", 0), ("request_deadline_ms", NAN), ("request_deadline_ms", INF),
    ("request_deadline_ms", -1), ("symbol_deadline_ms", 0), ("symbol_deadline_ms", NAN),
    ("symbol_deadline_ms", INF),
    ("page_limit", 0), ("page_limit", 1.5), ("page_limit", NAN), ("page_limit", True),
    ("funding_page_limit", 0), ("funding_page_limit", INF),
    ("seed", 1.5), ("seed", "x"), ("skip_bad_bars", "yes"), ("skip_bad_bars", 1),
]
BAD_RETRY = [
    ("max_attempts", 0), ("max_attempts", 2.5), ("max_attempts", NAN), ("max_attempts", True),
    ("base_delay", NAN), ("base_delay", INF), ("base_delay", -0.5), ("max_delay", NAN),
    ("max_delay", INF), ("jitter", NAN), ("jitter", -1.0), ("max_retry_after", NAN),
    ("max_retry_after", INF),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_bad_source_settings_are_refused(name: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        SourceSettings(**{name: value})
    text = str(info.value)
    assert name in text and repr(value) in text and "fix:" in text


@pytest.mark.parametrize(("name", "value"), BAD_RETRY)
def test_bad_retry_policies_are_refused(name: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**{name: value})
    assert name in str(info.value) and repr(value) in str(info.value)


def test_the_cli_option_is_named() -> None:
    with pytest.raises(ConfigError, match=r"base_delay must be >= 0 .*option --backoff.*nan"):
        RetryPolicy(base_delay=NAN)
    with pytest.raises(ConfigError, match=r"timeout_ms must be > 0 .*option --timeout-ms"):
        SourceSettings(timeout_ms=0)


def test_good_settings_still_pass() -> None:
    s = SourceSettings(timeout_ms=1, rate_limit_ms=0, request_deadline_ms=0.5,
                       symbol_deadline_ms=1e9, page_limit=1, seed=0, skip_bad_bars=True)
    assert s.skip_bad_bars and s.request_deadline_ms == 0.5
    assert RetryPolicy(max_attempts=1, base_delay=0, max_delay=0, jitter=0).max_attempts == 1


@pytest.mark.parametrize("fn", [download, update])
@pytest.mark.parametrize("value", [NAN, INF, -1.0, True])
def test_min_volume_is_checked_before_any_request(tmp_path: Path, fn: Any, value: Any) -> None:
    store = Store(tmp_path / "db.duckdb")
    with pytest.raises(ConfigError, match="min_volume"):
        fn("binanceusdm", min_volume=value, since="2026-03-01", store=store,
           base_url="http://127.0.0.1:9")  # nothing listens there: no request is made
    assert not list(tmp_path.iterdir())  # nothing written either
