"""The tracking QP of :class:`~coinfactor.portfolio.HedgeBasket`, solved from its Gram form.

The problem on T bars of candidate returns ``R`` (T x n) and target returns ``r`` (T,) is

    minimise    s·‖R w − r‖² + λ·fᵀw + κ·‖w − w_prev‖₁
    subject to  Σ w = 1,  lo ≤ w ≤ hi

with ``s = periods_per_year / T`` (so the first term is the annualised mean squared tracking
error). Since ``‖R w − r‖² = wᵀ(RᵀR)w − 2(Rᵀr)ᵀw + rᵀr``, it only needs ``G = RᵀR`` (n x n),
``b = Rᵀr`` and ``rᵀr``: the solve time does not grow with T. The quadratic term is passed to
cvxpy as ``quad_form(w, psd_wrap(G))``, which hands the solver the (symmetrised) ``G`` itself
rather than T rows. ``G`` is a Gram matrix, so it is PSD up to rounding; ``psd_wrap`` skips
cvxpy's eigenvalue check, and the solvers' KKT regularisation absorbs rounding-level negative
eigenvalues. Rank-deficient ``G`` (PCA-cleaned returns, more names than bars) is fine: the
problem stays convex, and the tests compare it with the direct T x n formulation. (An explicit
eigenvalue clip cost more than the solve itself at n = 300 and changed nothing.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
from cvxpy.atoms.affine.wraps import psd_wrap

from coinfactor.core.typing import Solver

_SOLVER_OPTIONS: dict[str, dict[str, float | int | bool]] = {
    # tight tolerances: the optimum is flat in some directions (collinear names), so a gap
    # of 1e-10 still moved weights by ~4e-6 at n = 300; 1e-12 gives ~1e-7 for ~5% more time
    "CLARABEL": {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12,
                 "max_iter": 500},
    "OSQP": {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iter": 200_000, "polishing": True},
}


@dataclass(frozen=True)
class GramStats:
    """Sufficient statistics of the tracking problem.

    Attributes
    ----------
    gram : ndarray of shape (n, n)
        ``RᵀR``.
    cross : ndarray of shape (n,)
        ``Rᵀr``.
    target_ss : float
        ``rᵀr``.
    n_obs : int
        T, the number of rows behind the sums.
    """

    gram: np.ndarray
    cross: np.ndarray
    target_ss: float
    n_obs: int

    @classmethod
    def from_returns(cls, returns: np.ndarray, target: np.ndarray) -> GramStats:
        """Build from complete ``(T, n)`` candidate returns and ``(T,)`` target returns."""
        r = np.asarray(returns, dtype=np.float64)
        y = np.asarray(target, dtype=np.float64)
        return cls(gram=r.T @ r, cross=r.T @ y, target_ss=float(y @ y), n_obs=int(r.shape[0]))

    def sse(self, w: np.ndarray) -> float:
        """``‖R w − r‖²`` from the sums (clipped at 0 against rounding)."""
        return max(float(w @ self.gram @ w - 2 * self.cross @ w + self.target_ss), 0.0)


@dataclass(frozen=True)
class QPSolution:
    """Output of :func:`solve_tracking_qp`.

    Attributes
    ----------
    weights : ndarray of shape (n,) or None
        Optimal weights, or None when the solver did not reach ``optimal``.
    status : str
        cvxpy status (``"optimal"``, ``"infeasible"``, ...) or ``"solver_error: ..."``.
    objective : float
        Objective value (NaN without a solution).
    """

    weights: np.ndarray | None
    status: str
    objective: float


def solve_tracking_qp(
    stats: GramStats,
    *,
    scale: float,
    funding_cost: np.ndarray,
    lambda_funding: float,
    lower: np.ndarray,
    upper: np.ndarray,
    previous: np.ndarray | None = None,
    turnover_penalty: float | np.ndarray = 0.0,
    solver: Solver = "CLARABEL",
) -> QPSolution:
    """Solve the tracking QP from its Gram form (see the module docstring).

    Parameters
    ----------
    stats : GramStats
        ``RᵀR``, ``Rᵀr``, ``rᵀr``, T.
    scale : float
        Multiplier of the squared tracking error (``periods_per_year / T``).
    funding_cost : ndarray of shape (n,)
        Linear cost per unit weight (``-`` annualised funding rate for a short basket).
    lambda_funding : float
        Weight of the funding term.
    lower, upper : ndarray of shape (n,)
        Bounds on each weight.
    previous : ndarray of shape (n,), optional
        Previous weights on the same names (zeros for new names) for the turnover penalty.
    turnover_penalty : float or ndarray of shape (n,), default 0
        κ, the cost per unit of ``|w_i − w_prev,i|`` (one for all names, or one per name).
    solver : {"CLARABEL", "OSQP"}
        cvxpy solver.

    Returns
    -------
    QPSolution
    """
    n = stats.gram.shape[0]
    w = cp.Variable(n)
    gram = 0.5 * (stats.gram + stats.gram.T)
    objective = scale * (cp.quad_form(w, psd_wrap(gram)) - 2 * stats.cross @ w
                         + stats.target_ss)
    if lambda_funding != 0.0:
        objective = objective + lambda_funding * (funding_cost @ w)
    kappa = np.broadcast_to(np.asarray(turnover_penalty, dtype=np.float64), (n,))
    if previous is not None and (kappa > 0.0).any():
        objective = objective + kappa @ cp.abs(w - previous)
    problem = cp.Problem(cp.Minimize(objective), [cp.sum(w) == 1, w >= lower, w <= upper])
    try:
        problem.solve(solver=solver, **_SOLVER_OPTIONS[solver])
    except cp.error.SolverError as exc:
        return QPSolution(None, f"solver_error: {exc}", float("nan"))
    status = str(problem.status)
    if status != cp.OPTIMAL or w.value is None:
        return QPSolution(None, status, float("nan"))
    weights = np.clip(np.asarray(w.value, dtype=np.float64), lower, upper)
    return QPSolution(weights, status, float(problem.value))
