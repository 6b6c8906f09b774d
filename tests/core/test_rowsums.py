"""Block row sums equal the whole-array Fortran-ordered reduction bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from coinfactor.core.rowsums import row_blocks, row_sums


@pytest.mark.parametrize("n", [0, 1, 2, 3, 9, 10, 11])
@pytest.mark.parametrize("m", [0, 1, 3, 40])
def test_block_sums_equal_the_whole_array_sums(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 100 + m)
    x = rng.normal(size=(n, m)) * rng.choice([1e-9, 1.0, 1e9], size=(n, m))
    x[rng.random(x.shape) < 0.3] = 0.0
    want = (np.asfortranarray(np.abs(x)).sum(axis=1) if m else np.zeros(n))
    for block in (2, 3, 5, 4096):
        assert row_sums(x, np.abs, block=block).tobytes() == want.tobytes()
        bounds = row_blocks(n, block)
        assert [lo for lo, _ in bounds] == sorted({lo for lo, _ in bounds})
        assert all(hi - lo >= 2 for lo, hi in bounds) or n == 1
