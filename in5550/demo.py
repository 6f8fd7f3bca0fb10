"""``in5550 demo``: our hand-written nodes train the same sentence classifier as PyTorch, number for number.

The demo trains :class:`in5550.nn.MLPClassifier` on SST-2 twice from the same initial parameters, once with our
nodes (``backend="custom"``) and once with PyTorch's (``backend="torch"``), and shows:

1. that both start from identical parameters;
2. the gradients of the first step, parameter by parameter, from our nodes against the hand-derived NumPy
   reference (:func:`in5550.reference.mlp_backward`) and against PyTorch autograd, in float64, as a table of
   :mod:`in5550.checks` (dropout is off for this one comparison, because the reference has none);
3. the learning curves of both runs, which overlap (same batches, same dropout masks), and the final accuracies;
4. a figure of the overlaid curves, saved as a PNG.

Without SST-2 on disk and no network to fetch it, the demo says so and runs on the small sample shipped with the
package instead. Its arguments, the data settings and the output folder are checked before any work (the folder
must be new or empty, or ``--overwrite`` given); Ctrl-C stops it with the curves of the epochs finished so far
saved in the figure.
"""

from __future__ import annotations

import copy
import sys
import time

import torch

from in5550 import checks, data, reference
from in5550.nn import BACKENDS, MLPClassifier
from in5550.plots import plot_histories
from in5550.train import (DEFAULTS, OutputFolder, build_model, check_inputs, fit_and_evaluate, prepare, seed_argument,
                          unused_folder)


def load_sst2_or_sample(data_dir=None) -> tuple[str, data.Splits]:
    """``("sst2", splits)``, or ``("sample", splits)`` after saying why when SST-2 cannot be found or fetched."""
    name, splits, note = data.load_or_sample("sst2", data_dir)
    if name == "sample":
        print(f"{note}\n\n=> SST-2 was not found: running the demo on the small sample of sentences shipped with "
              "in5550 instead. Put the SST-2 files in place (see the data README) to see the real thing.\n")
    return name, splits


def _reference_name(name: str) -> str:
    # in5550.reference names the one hidden layer "hidden"; MLPClassifier keeps its hidden layers in a list
    return name.replace("hidden.0.", "hidden.")


def first_step_report(models: dict[str, MLPClassifier], ids: torch.Tensor, offsets: torch.Tensor,
                      labels: torch.Tensor) -> checks.Report:
    """Loss and gradients of one step on a batch, from float64 copies of the models in evaluation mode: ours
    (``models["custom"]``) against the NumPy reference (for one hidden layer) and against ``models["torch"]``."""
    results = {}
    for backend, model in models.items():
        model = copy.deepcopy(model).double().eval()
        loss = model.loss(model(ids, offsets), labels)
        loss.backward()
        results[backend] = {"loss": loss, **{f"grad {_reference_name(name)}": parameter.grad
                                             for name, parameter in model.named_parameters()}}
    ours = results["custom"]
    report = checks.Report()

    def add(view: str, expected: dict) -> None:
        for comparison in checks.compare(ours, expected):
            report.checks.append(checks.Check("MLP step 1", comparison.name, view, comparison.passed,
                                              comparison.summary()))

    if len(models["custom"].hidden) == 1:
        params = {_reference_name(name): parameter.detach().double().numpy()
                  for name, parameter in models["custom"].named_parameters()}
        forward = reference.mlp_forward(params, ids.numpy(), labels.numpy(), offsets=offsets.numpy(), padding_idx=0)
        loss, grads = reference.mlp_backward(forward)
        add("reference", {"loss": loss, **{f"grad {name}": grad for name, grad in grads.items()}})
    add("torch", results["torch"])
    return report


def _curves_table(histories: dict) -> str:
    names = list(histories)
    lines = ["epoch  " + "  ".join(f"{name + ' train loss':>18}  {name + ' dev acc':>15}" for name in names)]
    for index, epoch in enumerate(histories[names[0]].epoch):
        cells = []
        for name in names:
            history = histories[name]
            if index < len(history.epoch):
                cells.append(f"{history.train_loss[index]:18.6f}  {history.dev_accuracy[index]:15.4f}")
            else:
                cells.append(f"{'':18}  {'':15}")
        lines.append(f"{epoch:5d}  " + "  ".join(cells))
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=seed_argument, default=0,
                        help="seed of initialisation, shuffling and dropout, 0 .. 2**64-1 (default 0)")
    parser.add_argument("--data-dir", help="folder of the datasets (default $IN5550_DATA_DIR, else a per-user cache)")
    parser.add_argument("--output", help="folder for the figure (default runs/demo, or runs/demo-2, ... when that "
                                         "holds an earlier run's); a folder you name must be new or empty")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the figure in an --output folder that is not empty")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _save_curves(output: OutputFolder, histories: dict, name: str, seed: int):
    return output.write_with("learning_curves.png", lambda path: plot_histories(
        histories, path, title=f"{name}: our nodes (custom) and PyTorch (torch), seed {seed}"))


def run(args) -> int:
    check_inputs(args.data_dir)  # the data settings and folder, before any work
    with OutputFolder(args.output or unused_folder("runs/demo"), args.overwrite) as output:
        return _demo(args, output)


def _demo(args, output: OutputFolder) -> int:
    start = time.perf_counter()
    name, splits = load_sst2_or_sample(args.data_dir)
    settings = DEFAULTS[name]
    featured, vocab = prepare(splits, settings)
    print(f"{name}: {len(splits.train)} training, {len(splits.dev)} dev, {len(splits.test)} test sentences; "
          f"vocabulary of {len(vocab)} words and bigrams")
    print(data.describe_labels(splits))
    models = {backend: build_model(len(vocab), len(splits.label_names), settings, backend, args.seed)
              for backend in BACKENDS}
    print(models["custom"])
    same = all(torch.equal(a, b) for a, b in zip(models["custom"].parameters(), models["torch"].parameters()))
    print(f"\n1. Same initial parameters in both backends: {'yes' if same else 'NO'}")

    # the first batch that fit() will draw, since its shuffle generator is seeded the same way
    order = torch.Generator().manual_seed(args.seed)
    ids, offsets, labels = next(data.batches(featured.train, vocab, settings.batch_size, shuffle=True,
                                             generator=order))
    report = first_step_report(models, ids, offsets, labels)
    print(f"\n2. Gradients of the first step ({len(labels)} sentences, float64): our nodes against the NumPy "
          "reference and PyTorch autograd (relative error; 'exact' = bit for bit)\n")
    print(report)

    print("\n3. Training both (Adam, early stopping on dev accuracy)")
    histories, evaluations = {}, {}
    for backend, model in models.items():
        try:
            history, dev, test = fit_and_evaluate(model, featured, vocab, settings, args.seed, not args.no_progress,
                                                  backend)
        except KeyboardInterrupt as interrupt:
            # keep what is done: the curves of the finished epochs of each backend trained so far
            partial = getattr(interrupt, "history", None)
            if partial is not None and partial.epoch:
                histories[backend] = partial
            if histories:
                path = _save_curves(output, histories, name, args.seed)
                print(f"in5550 demo: interrupted while training {backend}: the curves so far "
                      f"({', '.join(f'{b} {len(h.epoch)} epochs' for b, h in histories.items())}) are in {path}",
                      file=sys.stderr)
            else:
                print(f"in5550 demo: interrupted while training {backend}, before any epoch finished: nothing "
                      "to save", file=sys.stderr)
            raise
        histories[backend], evaluations[backend] = history, (dev, test)
    print(_curves_table(histories))
    custom, theirs = histories["custom"], histories["torch"]
    shared = min(len(custom.epoch), len(theirs.epoch))
    gap = max(abs(a - b) for a, b in zip(custom.train_loss[:shared], theirs.train_loss[:shared]))
    print(f"largest difference between the training-loss curves: {gap:.2e}")

    print("\n4. Final accuracies (parameters of the best dev epoch)")
    for backend, (dev, test) in evaluations.items():
        print(f"   {backend:6}  dev {dev.accuracy:.4f}  test {test.accuracy:.4f}  (macro-F1 {test.macro_f1:.4f}, "
              f"best epoch {histories[backend].best_epoch})")
    path = _save_curves(output, histories, name, args.seed)
    print(f"\nfigure: {path}   ({time.perf_counter() - start:.0f} s in all)")
    return 0 if report.passed and same else 1
