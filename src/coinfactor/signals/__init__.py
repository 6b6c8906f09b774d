"""Point-in-time crypto signals on the canonical panel.

Each signal is a function ``panel -> ts, symbol, <name>`` with one row per panel row (null
where the value is undefined), documented with its formula and units.
:func:`available` lists them and :func:`compute` runs one by name; :func:`compute_array` gives
a signal's values on the panel's grid, before they are melted into the long frame.

Window rule. Rolling windows count bars on the panel's regular time grid (its bar frequency,
from the first bar of the panel): a window of ``w`` bars at ``ts`` covers
``ts - (w - 1) * freq .. ts``. A missing bar (gap, before listing, filled bar, null input) is
a missing value. The statistic uses the values present and is defined only when at least
``min_periods`` are present; the default ``min_periods=None`` requires the whole window, so a
gap voids every window that contains it. Returns are never computed across a gap.

:func:`forward_returns` is a forward-looking research label, not a signal, and is not listed by
:func:`available`. :func:`features_at`, :func:`cross_section_at` and
:func:`attach_forward_returns` read signals at decision times (anchor bars of
:func:`coinfactor.data.anchor_decisions`) and add the forward returns between decisions.
"""

from coinfactor.signals._carry import carry_from_rate, funding_carry
from coinfactor.signals._decisions import attach_forward_returns, cross_section_at, features_at
from coinfactor.signals._forward import forward_return_column, forward_returns
from coinfactor.signals._liquidity import avg_notional, liquidity, notional_expr
from coinfactor.signals._price import realized_vol, rolling_beta, sharpe_proxy, vwap_distance
from coinfactor.signals._registry import available, compute, compute_array
from coinfactor.signals._returns import momentum, returns, rolling_return
from coinfactor.signals._spreads import abdi_ranaldo, corwin_schultz, half_range_spread

__all__ = [
    "abdi_ranaldo",
    "attach_forward_returns",
    "available",
    "avg_notional",
    "carry_from_rate",
    "compute",
    "compute_array",
    "corwin_schultz",
    "cross_section_at",
    "features_at",
    "forward_return_column",
    "forward_returns",
    "funding_carry",
    "half_range_spread",
    "liquidity",
    "momentum",
    "notional_expr",
    "realized_vol",
    "returns",
    "rolling_beta",
    "rolling_return",
    "sharpe_proxy",
    "vwap_distance",
]
