"""Learning-curve figures sized for a lecture hall (in5550.plots)."""

import pytest
from PIL import Image

from in5550 import plots
from in5550.train import History


def history(epochs: int, best: int) -> History:
    return History(epoch=list(range(1, epochs + 1)), train_loss=[1 / e for e in range(1, epochs + 1)],
                   train_accuracy=[0.5 + 0.05 * e for e in range(epochs)], dev_loss=[1.2 / e for e in range(1, epochs + 1)],
                   dev_accuracy=[0.5 + 0.04 * e for e in range(epochs)], best_epoch=best)


def test_learning_curves_are_wide_labelled_with_whole_epochs_and_a_legend_per_panel(tmp_path, monkeypatch):
    saved = {}
    from matplotlib.figure import Figure

    original = Figure.savefig

    def keep(self, *args, **kwargs):
        saved["figure"] = self
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    path = plots.plot_histories({"custom": history(3, 2), "torch": history(3, 3)}, tmp_path / "a" / "curves.png",
                                title="t")
    with Image.open(path) as image:
        assert image.width >= plots.WIDTH_PIXELS
    loss_axes, accuracy_axes = saved["figure"].axes
    assert loss_axes.get_xlabel() == accuracy_axes.get_xlabel() == "epoch"
    assert loss_axes.get_ylabel() == "cross-entropy loss (nats per sentence)"
    assert accuracy_axes.get_ylabel() == "accuracy (%)"
    for axes in (loss_axes, accuracy_axes):
        ticks = [t for t in axes.get_xticks() if axes.get_xlim()[0] <= t <= axes.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
        assert all(label.get_fontsize() >= 12 for label in axes.get_xticklabels())
    assert [t.get_text() for t in loss_axes.get_legend().get_texts()] == [
        "custom: train", "custom: dev", "torch: train", "torch: dev"]
    # the ring that marks the kept epoch is explained in the legend
    assert [t.get_text() for t in accuracy_axes.get_legend().get_texts()] == [
        "custom: train", "custom: dev", "custom: epoch kept (best dev)", "torch: train", "torch: dev",
        "torch: epoch kept (best dev)"]
    ring = accuracy_axes.get_lines()[2]
    assert list(ring.get_xdata()) == [2] and list(ring.get_ydata()) == [pytest.approx(54.0)]


def test_no_runs_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="plot_histories: argument 'histories' is empty"):
        plots.plot_histories({}, tmp_path / "x.png")
