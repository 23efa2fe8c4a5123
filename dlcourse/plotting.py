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


def probability_bars(images, probabilities, class_names: Sequence[str], labels=None, image_shape=None,
                     columns: int = 3, dpi: int = 80):
    """Each image next to a horizontal bar chart of its predicted class probabilities; returns the figure.

    ``images`` holds n images (flattened ones are reshaped to ``image_shape``), ``probabilities`` is (n, classes),
    each row adding up to 1 (a softmax output), and ``labels`` the true classes, if known: the true class's bar is
    green and, when the prediction is wrong, the predicted class's bar red (without labels the predicted class is
    blue). Each chart's title is the predicted class and its probability, and the true class when it differs.
    """
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(class_names) or len(images) != len(probabilities):
        raise ValueError(f"expected one row of {len(class_names)} probabilities per image, got shape "
                         f"{probabilities.shape} for {len(images)} images")
    n, classes = probabilities.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(4.6 * columns, (0.6 + 0.17 * classes) * rows), dpi=dpi,
                             squeeze=False, gridspec_kw={"width_ratios": [1, 1.5] * columns})
    for index in range(rows * columns):
        ax_image, ax_bars = axes[index // columns, 2 * (index % columns):2 * (index % columns) + 2]
        ax_image.axis("off")
        if index >= n:
            ax_bars.axis("off")
            continue
        image = np.asarray(images[index])
        ax_image.imshow(image.reshape(image_shape) if image_shape is not None else image, cmap="gray_r")
        predicted = int(probabilities[index].argmax())
        colors = ["tab:gray"] * classes
        if labels is None:
            colors[predicted] = "tab:blue"
        else:
            colors[predicted] = "tab:red"
            colors[int(labels[index])] = "tab:green"
        ax_bars.barh(np.arange(classes), probabilities[index], color=colors)
        ax_bars.set_xlim(0, 1)
        ax_bars.set_yticks(np.arange(classes))
        ax_bars.set_yticklabels(class_names, fontsize=7)
        ax_bars.tick_params(axis="x", labelsize=7)
        ax_bars.invert_yaxis()
        wrong = labels is not None and predicted != int(labels[index])
        ax_bars.set_title(f"{class_names[predicted]} {probabilities[index, predicted]:.0%}"
                          + (f" (true {class_names[int(labels[index])]})" if wrong else ""), fontsize=8,
                          color="tab:red" if wrong else "black")
    fig.tight_layout()
    return fig
