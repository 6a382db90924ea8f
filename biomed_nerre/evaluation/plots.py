"""PNG figures: grouped per-type (or per-label) F1 bars and the NER span confusion matrix.

Figures are drawn on ``matplotlib.figure.Figure`` objects saved through the Agg canvas, so nothing here
touches pyplot's global backend or opens a window (safe on headless nodes and inside training)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    return path


def plot_f1_bars(path: str | Path, series: Mapping[str, Mapping[str, float]], title: str) -> Path:
    """Horizontal grouped bars: one group per category (type or label), one bar per series.

    ``series`` maps a series name (e.g. "seqeval strict IOB2") to {category: F1 in [0, 1]}; categories are
    the union over series, in first-seen order; a category missing from a series is drawn as 0.
    """
    categories = list(dict.fromkeys(c for scores in series.values() for c in scores))
    n_series = max(len(series), 1)
    height = 0.8 / n_series
    fig = Figure(figsize=(7.5, 1.2 + 0.32 * max(len(categories), 1) * n_series ** 0.5))
    ax = fig.add_subplot()
    for s, (name, scores) in enumerate(series.items()):
        ys = [c + (s - (n_series - 1) / 2) * height for c in range(len(categories))]
        values = [float(scores.get(cat, 0.0)) for cat in categories]
        bars = ax.barh(ys, values, height=height, label=name)
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=2, fontsize=7)
    ax.set_yticks(range(len(categories)), categories, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("F1")
    ax.set_title(title, fontsize=10)
    if series:
        ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_confusion(path: str | Path, labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> Path:
    """Count heatmap, rows = gold, columns = predicted, each cell annotated with its count."""
    n = len(labels)
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise ValueError(f"confusion matrix must be {n}x{n} for labels {list(labels)}")
    fig = Figure(figsize=(1.6 + 1.0 * n, 1.2 + 0.9 * n))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    peak = max((v for row in matrix for v in row), default=0)
    for r in range(n):
        for c in range(n):
            value = matrix[r][c]
            ax.text(c, r, str(value), ha="center", va="center", fontsize=8,
                    color="white" if peak and value > peak / 2 else "black")
    ax.set_xticks(range(n), list(labels), rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(n), list(labels), fontsize=8)
    ax.set_xlabel("predicted (O = spurious span)")
    ax.set_ylabel("gold (O column = missed span)")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
