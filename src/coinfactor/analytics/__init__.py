"""Performance analytics: metrics, factor tearsheets, bootstrap Monte Carlo."""

from coinfactor.analytics._bootstrap import BootstrapResult, block_bootstrap

__all__ = ["BootstrapResult", "block_bootstrap"]
