"""Figures of results, sized for a lecture hall: learning curves, and the style the notebooks' plots share.

Every figure is at least :data:`WIDTH_PIXELS` wide with text of at least 12 points at :data:`DPI` (about 17 pixels
high), labelled axes with units, whole-number epochs, a legend in every panel with several lines, and every
marker explained in a legend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DPI = 100
WIDTH_PIXELS = 1200
# rcParams for every plot of the notebooks: 14 x 5 inches at 100 dpi (still 1200 pixels or more once Jupyter
# crops the white margins), text of 12 points or more, titles kept apart by the constrained layout
STYLE = {
    "figure.figsize": (14, 5),
    "figure.constrained_layout.use": True,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "lines.linewidth": 2.0,
}


def use_lecture_style() -> None:
    """Set matplotlib's defaults (``rcParams``) to :data:`STYLE`, for the plots that follow."""
    import matplotlib

    matplotlib.rcParams.update(STYLE)


def plot_histories(histories: Mapping, path: str | Path, title: str = "") -> Path:
    """Save the learning curves of one or more runs (name -> :class:`in5550.train.History`), overlaid, as a PNG
    at ``path`` (folders made as needed); return the path.

    Left: the mean cross-entropy loss per sentence (nats) per epoch; right: the accuracy (%). Training is solid,
    dev dashed, one colour per run; a ring marks the epoch whose parameters each run kept (best dev accuracy).
    Drawn on a bare Agg canvas (no pyplot), so it works without a display and leaves matplotlib's global state
    alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not histories:
        raise ValueError("plot_histories: argument 'histories' is empty: give at least one run")
    with _style():
        figure = Figure(figsize=(WIDTH_PIXELS / DPI, 5.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    with _style():
        loss_axes, accuracy_axes = figure.subplots(1, 2)
        for index, (label, history) in enumerate(histories.items()):
            colour = f"C{index % 10}"
            # the first run is drawn widest, so that curves which coincide stay visible one on top of the other
            width = 5 if index == 0 else 2
            for axes, train_values, dev_values, scale in (
                    (loss_axes, history.train_loss, history.dev_loss, 1),
                    (accuracy_axes, history.train_accuracy, history.dev_accuracy, 100)):
                axes.plot(history.epoch, [v * scale for v in train_values], color=colour, linewidth=width,
                          label=f"{label}: train", alpha=0.6 if index == 0 else 1)
                axes.plot(history.epoch, [v * scale for v in dev_values], color=colour, linewidth=width,
                          linestyle="--", label=f"{label}: dev", alpha=0.6 if index == 0 else 1)
            best = history.best_epoch
            if best:
                accuracy_axes.plot([best], [100 * history.dev_accuracy[best - 1]], "o", color=colour,
                                   markersize=14, fillstyle="none", markeredgewidth=2,
                                   label=f"{label}: epoch kept (best dev)")
        loss_axes.set(xlabel="epoch", ylabel="cross-entropy loss (nats per sentence)", title="loss")
        accuracy_axes.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        for axes in (loss_axes, accuracy_axes):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
            axes.legend()
        if title:
            figure.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def _style():
    import matplotlib

    return matplotlib.rc_context(STYLE)
