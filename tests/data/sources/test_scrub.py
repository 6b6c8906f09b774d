"""The one scrubbing function: every piece of a registered secret, URL and header
credentials; scrubbed before anything is cut."""

from __future__ import annotations

import random

import pytest

from coinfactor.core.errors import SourceError
from coinfactor.data.sources import RetryPolicy
from coinfactor.data.sources._retry import _describe, call_with_retry
from coinfactor.data.sources._secrets import FRAGMENT, clip, register_secret, scrub

KEY = "Pk4Xc8Vn2Bm6Qw1Er5Ty9Ui3Oa7Sd0Fg"  # random-looking, like a real Tiingo token


def leaks(text: str) -> list[str]:
    return [KEY[i:i + FRAGMENT] for i in range(len(KEY) - FRAGMENT + 1)
            if KEY[i:i + FRAGMENT] in text]


def test_scrub_removes_every_piece_before_anything_is_cut() -> None:
    register_secret(KEY)
    for start in range(len(KEY)):
        for end in range(start + FRAGMENT, len(KEY) + 1):
            assert not leaks(scrub(f"a{KEY[start:end]}b"))
    # the cut that leaked 11 of the 17 characters: scrubbed first, then cut
    for offset in range(150, 205):
        body = "x" * offset + KEY + " trailing"
        assert not leaks(clip(body, 200)) and not leaks(clip(body, 120))
    # and in URLs and headers, registered or not
    assert scrub("GET http://user:hunter22@host/x?apikey=abc123&n=1") == \
        "GET http://***@host/x?apikey=***&n=1"
    assert scrub("Authorization: Token abcdef012345") == "Authorization: ***"
    # the retry loop's descriptions and raised errors are scrubbed before the cut too
    exc = RuntimeError("y" * 290 + KEY)
    assert not leaks(_describe(exc))

    def failing() -> None:
        raise RuntimeError("z" * 395 + KEY)

    with pytest.raises(SourceError) as info:
        call_with_retry(failing, policy=RetryPolicy(max_attempts=1), classify=lambda e: None,
                        what="req", rng=random.Random(0))
    assert not leaks(str(info.value))


def test_short_secrets_are_not_registered() -> None:
    register_secret("abc")  # would blank every "abc" in every message
    assert scrub("abc abcd") == "abc abcd"


def test_a_secret_in_a_log_record_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    register_secret(KEY)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpcore.http11").debug("headers %s", [(b"X-Echo", KEY.encode())])
    assert caplog.records and not leaks(caplog.text)
