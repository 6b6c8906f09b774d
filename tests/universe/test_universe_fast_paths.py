"""Oracle test of the grid kernels of ``universe.volume_decile`` and ``signals.carry_from_rate``
against their long-frame functions."""

from __future__ import annotations

import numpy as np
import pytest

from support.random_panels import ragged_daily_panel


def test_universe_and_carry_kernels_equal_their_frame_functions() -> None:
    """Reference: universe.volume_decile and signals.funding_carry (long frames)."""
    from coinfactor import signals, universe
    from coinfactor.core.errors import ConfigError
    from coinfactor.data import Grid

    panel = ragged_daily_panel(seed=13, filled=True)
    grid = Grid.from_panel(panel, "1d")
    member = universe.volume_decile(panel, 10, 6, grid=grid)
    ref = universe.volume_decile(panel, window=10, min_decile=6)
    np.testing.assert_array_equal(member[grid.rows, grid.cols], ref["in_universe"].to_numpy())
    rate = grid.wide(panel, "funding_rate")
    carry = signals.carry_from_rate(rate, "1d", 5)
    ref_c = signals.funding_carry(panel, window=5)["funding_carry"].fill_null(np.nan)
    np.testing.assert_array_equal(carry[grid.rows, grid.cols], ref_c.to_numpy())
    with pytest.raises(ConfigError):
        signals.carry_from_rate(rate, "1d", 0)
    with pytest.raises(ConfigError):
        universe.volume_decile(panel, 10, 11, grid=grid)
