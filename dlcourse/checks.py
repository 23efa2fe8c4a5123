"""Numerical checks shared by the notebooks' visible tests.

The conventions follow the usual gradient-checking practice: float64 everywhere, central differences
with a step around 1e-5, and a relative error that stays meaningful when both values are tiny.
"""

from collections.abc import Callable

import numpy as np


def rel_error(a, b) -> float:
    """Largest elementwise relative error, max |a - b| / max(1e-8, |a| + |b|).

    Accepts NumPy arrays, torch tensors (detached and moved to the CPU) and scalars.
    """
    a, b = _as_float64(a), _as_float64(b)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f: Callable, x, h: float = 1e-5) -> np.ndarray:
    """Gradient of the scalar function ``f`` at ``x`` by central differences, in float64.

    ``x`` is copied; ``f`` is called with arrays of the same shape and must return a number.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        f_plus = float(f(x))
        x[index] = saved - h
        f_minus = float(f(x))
        x[index] = saved
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(f: Callable, x, upstream, h: float = 1e-5) -> np.ndarray:
    """Gradient of ``sum(f(x) * upstream)`` at ``x``: how a layer's backward pass is checked."""
    upstream = np.asarray(upstream, dtype=np.float64)
    return numerical_gradient(lambda v: np.sum(np.asarray(f(v), dtype=np.float64) * upstream), x, h)


def check_gradient(name: str, analytic, numeric, tol: float = 1e-7) -> float:
    """Assert that an analytic gradient matches a numerical one; say how far off it is when not.

    Returns the relative error so that a notebook can print it.
    """
    analytic, numeric = _as_float64(analytic), _as_float64(numeric)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"{name}: gradient has shape {analytic.shape}, expected {numeric.shape}")
    err = rel_error(analytic, numeric)
    if not err < tol:
        raise AssertionError(f"{name}: relative error {err:.2e} against the numerical gradient (want < {tol:.0e})")
    return err


def assert_close(name: str, actual, expected, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Compare ``actual`` with ``expected`` and fail with a message that locates the mismatch.

    The message gives the shape, how many entries differ and the largest difference, but never the
    expected values, so hidden tests can use it without revealing their answers.
    """
    actual_arr = _as_float64(actual)
    expected_arr = _as_float64(expected)
    if actual_arr.shape != expected_arr.shape:
        raise AssertionError(f"{name}: shape {actual_arr.shape}, expected {expected_arr.shape}")
    if not np.all(np.isfinite(actual_arr)):
        raise AssertionError(f"{name}: contains nan or inf")
    close = np.isclose(actual_arr, expected_arr, rtol=rtol, atol=atol)
    if not np.all(close):
        worst = float(np.max(np.abs(actual_arr - expected_arr)))
        raise AssertionError(
            f"{name}: {int(np.size(close) - np.count_nonzero(close))} of {close.size} values are off "
            f"(largest absolute difference {worst:.3g}, relative error {rel_error(actual_arr, expected_arr):.2e})"
        )


def _as_float64(value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensors, without importing torch here
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)
