"""BEST (Kruschke, 2013): Bayesian estimation of two groups' means with Student-t likelihoods.

The model is compiled once per prior family and reused with new data (nutpie's
``with_data``), so a study's hundreds of fits pay for compilation once.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np


def _skip_pytensor_blas_probe() -> None:
    """Stop PyTensor's BLAS probe, whose warning every pip install prints, when the user set no BLAS flags.

    nutpie compiles BEST with numba, which calls BLAS itself; PyTensor's C backend, the only
    user of the probed flags, never runs here. A user's own ``blas__ldflags`` is kept.
    """
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "pytensor" not in sys.modules and "blas__ldflags" not in flags:
        os.environ["PYTENSOR_FLAGS"] = ",".join(part for part in (flags, "blas__ldflags=") if part)


_skip_pytensor_blas_probe()

PRIORS = ("paper", "kruschke")
RHAT_MAX = 1.01
ESS_FLOOR = 400


@dataclass(frozen=True)
class BestResult:
    """Posterior summary of mu_a - mu_b, with the diagnostics that make it trustworthy."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff_mean: float
    diff_hdi: tuple[float, float]
    prob_greater: float
    sigma_diff_mean: float
    effect_size_mean: float
    effect_size_hdi: tuple[float, float]
    nu_mean: float
    rhat_max: float
    ess_bulk_min: float
    divergences: int
    hdi_prob: float
    rope: tuple[float, float] | None
    priors: str
    converged: bool
    credible: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _build_model(priors: str):
    import pymc as pm

    with pm.Model() as model:
        y_a = pm.Data("y_a", np.zeros(2))
        y_b = pm.Data("y_b", np.zeros(2))
        if priors == "paper":
            mu = pm.Normal("mu", mu=0.0, sigma=1.0, shape=2)
            sigma = pm.HalfCauchy("sigma", beta=10.0, shape=2)
        else:
            # Kruschke's data-scaled vague priors; the scale comes in as data so the
            # compiled model is still reused across comparisons.
            center = pm.Data("center", 0.0)
            spread = pm.Data("spread", 1.0)
            mu = pm.Normal("mu", mu=center, sigma=1000.0 * spread, shape=2)
            sigma = pm.Uniform("sigma", lower=spread / 1000.0, upper=spread * 1000.0, shape=2)
        nu_minus_one = pm.Exponential("nu_minus_one", lam=1.0 / 29.0)
        nu = pm.Deterministic("nu", nu_minus_one + 1.0)
        pm.StudentT("obs_a", nu=nu, mu=mu[0], sigma=sigma[0], observed=y_a)
        pm.StudentT("obs_b", nu=nu, mu=mu[1], sigma=sigma[1], observed=y_b)
    return model


_compiled: dict[str, object] = {}
_lock = threading.Lock()


def compiled_model(priors: str):
    """The nutpie-compiled BEST model for a prior family, compiled on first use."""
    if priors not in PRIORS:
        raise ValueError(f"priors must be one of {PRIORS}, not {priors!r}")
    with _lock:
        if priors not in _compiled:
            import nutpie

            _compiled[priors] = nutpie.compile_pymc_model(_build_model(priors))
        return _compiled[priors]


def arviz():
    """ArviZ, without the notice about its coming 1.0 refactor that it prints on import (not about the user's data)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning)
        import arviz as az
    return az


def hdi_interval(values: np.ndarray, prob: float) -> tuple[float, float]:
    """The highest-density interval of posterior draws (arviz), as two floats."""
    az = arviz()
    low, high = az.hdi(np.asarray(values), hdi_prob=prob)
    return float(low), float(high)


def diagnostics(trace, var_names: list[str], ess_floor: float) -> tuple[float, float, int, bool]:
    """(largest R-hat, smallest bulk ESS, divergences, converged) of a nutpie trace over ``var_names``."""
    az = arviz()
    rhat = az.rhat(trace, var_names=var_names)
    ess = az.ess(trace, var_names=var_names, method="bulk")
    rhat_max = float(max(np.nanmax(rhat[v].values) for v in var_names))
    ess_min = float(min(np.nanmin(ess[v].values) for v in var_names))
    divergences = int(trace.sample_stats["diverging"].values.sum())
    return rhat_max, ess_min, divergences, rhat_max <= RHAT_MAX and ess_min >= ess_floor and divergences == 0


def decide(hdi: tuple[float, float], rope: tuple[float, float] | None, converged: bool) -> bool:
    """Credible difference: the HDI excludes 0 (or lies wholly outside the ROPE), and the fit converged."""
    if not converged:
        return False
    low, high = hdi
    if rope is None:
        return low > 0.0 or high < 0.0
    return low > rope[1] or high < rope[0]


def best(
    a,
    b,
    *,
    priors: Literal["paper", "kruschke"] = "paper",
    hdi_prob: float = 0.95,
    rope: tuple[float, float] | None = None,
    seed: int | None = 0,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    ess_floor: float = ESS_FLOOR,
) -> BestResult:
    """BEST posterior of mean(a) - mean(b); ``credible`` only when the diagnostics pass."""
    import nutpie

    y_a, y_b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(y_a) < 2 or len(y_b) < 2:
        raise ValueError("BEST needs at least two values per group")
    if not (np.isfinite(y_a).all() and np.isfinite(y_b).all()):
        raise ValueError("BEST got a NaN or infinite value")
    data = {"y_a": y_a, "y_b": y_b}
    if priors == "kruschke":
        pooled = np.concatenate([y_a, y_b])
        data.update(center=np.asarray(pooled.mean()), spread=np.asarray(max(pooled.std(ddof=1), 1e-6)))
    model = compiled_model(priors).with_data(**data)
    trace = nutpie.sample(
        model, draws=draws, tune=tune, chains=chains, cores=cores or chains, seed=seed, progress_bar=False
    )
    post = trace.posterior
    mu = post["mu"].values.reshape(-1, 2)
    sigma = post["sigma"].values.reshape(-1, 2)
    nu = post["nu"].values.reshape(-1)
    diff = mu[:, 0] - mu[:, 1]
    effect = diff / np.sqrt((sigma[:, 0] ** 2 + sigma[:, 1] ** 2) / 2.0)
    rhat_max, ess_min, divergences, converged = diagnostics(trace, ["mu", "sigma", "nu_minus_one"], ess_floor)
    hdi = hdi_interval(diff, hdi_prob)
    return BestResult(
        n_a=len(y_a), n_b=len(y_b), mean_a=float(y_a.mean()), mean_b=float(y_b.mean()),
        diff_mean=float(diff.mean()), diff_hdi=hdi, prob_greater=float((diff > 0).mean()),
        sigma_diff_mean=float((sigma[:, 0] - sigma[:, 1]).mean()),
        effect_size_mean=float(effect.mean()), effect_size_hdi=hdi_interval(effect, hdi_prob),
        nu_mean=float(nu.mean()), rhat_max=rhat_max, ess_bulk_min=ess_min, divergences=divergences,
        hdi_prob=hdi_prob, rope=tuple(rope) if rope else None, priors=priors, converged=converged,
        credible=decide(hdi, rope, converged),
    )
