"""Pictures of a training run: learning curves and a confusion matrix (matplotlib).

Uses matplotlib's non-interactive Agg backend, so it works on servers without
a display; each function writes one PNG and returns its path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic_files import atomic_path


def _pyplot():
    import matplotlib  # noqa: PLC0415 - matplotlib is slow to import; only when plotting

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


def plot_history(history: dict, path, title="Training history", fine_tune_at=None) -> Path:
    """Loss and accuracy per epoch, training vs validation, side by side
    (the two panels the seed notebooks draw). ``history`` is ``History.history``.
    ``fine_tune_at=N`` draws a line after epoch N, where fine-tuning started."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    panels = [k for k in ("loss", "accuracy") if k in history] or sorted(
        k for k in history if not k.startswith("val_"))[:2]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, key in zip(axes[0], panels):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], "o-", label=f"training {key}")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s--", label=f"validation {key}")
        if fine_tune_at is not None:
            ax.axvline(fine_tune_at + 0.5, color="gray", linestyle=":", label="fine-tuning starts")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key.capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """counts[i, j] = how many samples of true class i were predicted as class j."""
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    y_pred = np.asarray(y_pred).reshape(-1).astype(np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: {y_true.shape[0]} labels but {y_pred.shape[0]} predictions")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def plot_confusion_matrix(counts, class_names, path, title="Confusion matrix (test set)") -> Path:
    """A heat map of ``counts`` with the numbers written in each cell."""
    plt = _pyplot()
    counts = np.asarray(counts)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * n, 0.6 + 0.55 * n))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if counts[i, j] > threshold else "black")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{title}: accuracy {accuracy:.4f}")
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out
