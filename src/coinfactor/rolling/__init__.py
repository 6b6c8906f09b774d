"""Rolling kernels on dense arrays: rolling OLS for many series in one call.

``rolling_ols`` is the fast kernel; ``rolling_ols_reference`` fits the same model window by
window in plain NumPy (slow, readable: the oracle the kernel is tested against).
"""

from coinfactor.rolling._ols import rolling_ols
from coinfactor.rolling._ols_reference import rolling_ols_reference
from coinfactor.rolling._result import RollingOLSResult

__all__ = ["RollingOLSResult", "rolling_ols", "rolling_ols_reference"]
