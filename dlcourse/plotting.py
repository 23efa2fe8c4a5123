"""Plots the notebooks share: functions of two variables, optimisation paths and learning curves."""

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def contour(f: Callable, bounds=(-5.0, 5.0), resolution: int = 300, ax=None, levels: int = 40,
            minima: Sequence[tuple[float, float]] = ()):
    """Filled contour plot of the vectorized function ``f(x, y)`` on the square ``bounds``; returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    grid = np.linspace(bounds[0], bounds[1], resolution)
    xx, yy = np.meshgrid(grid, grid)
    filled = ax.contourf(xx, yy, f(xx, yy), levels=levels, cmap="viridis")
    ax.figure.colorbar(filled, ax=ax, label="f(x, y)")
    for mx, my in minima:
        ax.plot(mx, my, marker="*", color="white", markersize=12, markeredgecolor="black")
    ax.set(xlabel="x", ylabel="y", aspect="equal")
    return ax


def plot_paths(f: Callable, paths: Mapping[str, tuple[Sequence[float], Sequence[float]]],
               bounds=(-5.0, 5.0), minima: Sequence[tuple[float, float]] = (), title: str = ""):
    """Optimisation paths over the contour of ``f`` (left) and f along each path (right).

    ``paths`` maps a label to ``(x_hist, y_hist)``. Returns the figure.
    """
    fig, (ax_path, ax_curve) = plt.subplots(1, 2, figsize=(12, 5))
    contour(f, bounds, ax=ax_path, minima=minima)
    for label, (xs, ys) in paths.items():
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        line, = ax_path.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=label)
        ax_path.plot(xs[0], ys[0], marker="s", color=line.get_color())
        ax_curve.plot(np.arange(len(xs)), f(xs, ys), marker="o", markersize=3, label=label)
    ax_path.set(xlim=bounds, ylim=bounds, title="path over the contour of f")
    ax_path.legend(loc="upper left", fontsize="small")
    ax_curve.set(xlabel="step", ylabel="f(x, y)", title="value of f per step")
    ax_curve.grid(alpha=0.3)
    ax_curve.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def learning_curves(history: Mapping[str, Sequence[float]], xlabel: str = "epoch", title: str = ""):
    """One line per named series, e.g. ``{"train loss": [...], "validation loss": [...]}``; returns the figure."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in history.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    ax.set(xlabel=xlabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
