"""The claim of Kumar & Tsvetkov (2018), measured: a von Mises-Fisher output layer trains faster and needs far
less memory than a softmax over the vocabulary, and more so as the vocabulary grows.

One training step of an output layer, for hidden states ``h`` ``(B, H)`` of ``B`` tokens:

- softmax: logits :math:`h W^\\top + b` with :math:`W \\in \\mathbb{R}^{|V| \\times H}`, then cross-entropy against
  the next word's index: :math:`O(B\\,|V|\\,H)` work and :math:`(B, |V|)` logits and gradients;
- vMF: a predicted embedding :math:`\\hat{e} = h W^\\top + b` with :math:`W \\in \\mathbb{R}^{m \\times H}`, then
  :func:`in5550.vmf.vmf_loss` against the next word's unit-norm embedding, looked up in a frozen table
  :math:`(|V|, m)`: :math:`O(B\\,m\\,H)` work whatever the vocabulary.

Both use this package's nodes (``in5550.functional.linear`` and ``cross_entropy``, the vMF node), the same
hidden states (which get a gradient, as in a model) and plain SGD. Reported per vocabulary size:

- ``softmax_ms``, ``vmf_ms``: median wall time of a step (forward, backward, update), the two timed alternately;
- ``softmax_peak_bytes``, ``vmf_peak_bytes``: the bytes a step must hold at its fullest, counted from the tensors
  themselves: the layer's parameters (for vMF also the frozen target table), the hidden states, the tensors
  autograd saves for backward (found with ``torch.autograd.graph.saved_tensors_hooks``), the layer's output,
  and the gradients backward creates for the output, the hidden states and the parameters; each tensor once.
  CPU allocators keep no peak statistics, so this count is exact for what the graph holds and deterministic,
  and a lower bound of the process's peak (temporaries inside a node, freed before it returns, are not
  counted; neither are SciPy's few bytes per token for the Bessel functions).

Example::

    >>> rows = bench_output_layers(vocab_sizes=(1000,), batch_size=8, hidden_dim=16, embedding_dim=10,
    ...                            repeats=1, warmup=0)
    >>> sorted(rows[0])
    ['batch_size', 'embedding_dim', 'hidden_dim', 'softmax_ms', 'softmax_peak_bytes', 'vmf_ms', 'vmf_peak_bytes', 'vocab_size']
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence

import torch

import in5550.functional as F
from in5550.vmf import vmf_loss

VOCAB_SIZES = (5_000, 10_000, 20_000, 50_000, 100_000, 200_000)
BATCH_SIZE = 128  # tokens per step
HIDDEN_DIM = 256
EMBEDDING_DIM = 300  # m: the paper's target embeddings (fastText) have 300 dimensions
LR = 0.1
REPEATS = 5
WARMUP = 1


def _key(t: torch.Tensor) -> tuple:
    """Identifies the bytes a tensor shows: a view of a tensor shares them only if it is the same view."""
    return t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype


def held_bytes(step_forward: Callable[[], torch.Tensor], held: Sequence[torch.Tensor]) -> int:
    """Bytes of everything a training step holds at its fullest (see the module's docstring): ``held`` (the
    parameters, tables and inputs that exist before the step), what ``step_forward()`` saves for backward, its
    output before the loss, and one gradient for that output and for every tensor of ``held`` that requires one.

    ``step_forward`` returns ``(output, loss)``; each tensor is counted once.
    """
    tensors: dict = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        tensors[_key(tensor)] = tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output, _ = step_forward()
    for tensor in held:
        tensors[_key(tensor)] = tensor.numel() * tensor.element_size()
    tensors[_key(output)] = output.numel() * output.element_size()
    gradients = [output] + [t for t in held if t.requires_grad]
    return sum(tensors.values()) + sum(t.numel() * t.element_size() for t in gradients)


def bench_output_layers(vocab_sizes: Sequence[int] = VOCAB_SIZES, batch_size: int = BATCH_SIZE,
                        hidden_dim: int = HIDDEN_DIM, embedding_dim: int = EMBEDDING_DIM, repeats: int = REPEATS,
                        warmup: int = WARMUP, seed: int = 0) -> list[dict]:
    """Time and memory of a training step of a softmax output layer and of a vMF output layer, one row (a dict
    with the keys of the module's example) per vocabulary size."""
    for name, value, least in (("batch_size", batch_size, 1), ("hidden_dim", hidden_dim, 1),
                               ("embedding_dim", embedding_dim, 2), ("repeats", repeats, 1), ("warmup", warmup, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"bench_output_layers: argument '{name}' must be an integer >= {least}, got {value!r}")
    if not vocab_sizes or any(not isinstance(v, int) or isinstance(v, bool) or v < 2 for v in vocab_sizes):
        raise ValueError(f"bench_output_layers: argument 'vocab_sizes' must be integers >= 2, got {vocab_sizes!r}")
    rows = []
    for vocab_size in vocab_sizes:
        generator = torch.Generator().manual_seed(seed)
        h = torch.randn(batch_size, hidden_dim, generator=generator, requires_grad=True)
        targets = torch.randint(0, vocab_size, (batch_size,), generator=generator)
        scale = hidden_dim ** -0.5
        softmax_params = [(torch.randn(vocab_size, hidden_dim, generator=generator) * scale).requires_grad_(),
                          torch.zeros(vocab_size, requires_grad=True)]
        vmf_params = [(torch.randn(embedding_dim, hidden_dim, generator=generator) * scale).requires_grad_(),
                      torch.zeros(embedding_dim, requires_grad=True)]
        table = torch.nn.functional.normalize(torch.randn(vocab_size, embedding_dim, generator=generator), dim=1)

        def softmax_forward():
            logits = F.linear(h, *softmax_params)
            return logits, F.cross_entropy(logits, targets)

        def vmf_forward():
            e_hat = F.linear(h, *vmf_params)
            return e_hat, vmf_loss(e_hat, table[targets])

        layers = {"softmax": (softmax_forward, softmax_params, [h, *softmax_params]),
                  "vmf": (vmf_forward, vmf_params, [h, *vmf_params, table])}

        def step(forward, params) -> float:
            start = time.perf_counter()
            for tensor in (h, *params):
                tensor.grad = None
            _, loss = forward()
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= LR * p.grad
            return (time.perf_counter() - start) * 1e3

        times = {name: [] for name in layers}
        for round_ in range(warmup + repeats):
            for name in (list(layers) if round_ % 2 == 0 else list(layers)[::-1]):
                elapsed = step(*layers[name][:2])
                if round_ >= warmup:
                    times[name].append(elapsed)
        row = {"vocab_size": vocab_size, "batch_size": batch_size, "hidden_dim": hidden_dim,
               "embedding_dim": embedding_dim}
        for name, (forward, _, held) in layers.items():
            row[f"{name}_ms"] = statistics.median(times[name])
            row[f"{name}_peak_bytes"] = held_bytes(forward, held)
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """The rows as a plain-text table, with the ratios softmax / vMF."""
    lines = [["vocabulary", "softmax ms", "vMF ms", "time ratio", "softmax MB", "vMF MB", "memory ratio"]]
    for r in rows:
        lines.append([f"{r['vocab_size']:,}", f"{r['softmax_ms']:.2f}", f"{r['vmf_ms']:.2f}",
                      f"{r['softmax_ms'] / r['vmf_ms']:.1f}", f"{r['softmax_peak_bytes'] / 1e6:.1f}",
                      f"{r['vmf_peak_bytes'] / 1e6:.1f}", f"{r['softmax_peak_bytes'] / r['vmf_peak_bytes']:.1f}"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines)


def run(args) -> int:
    """``in5550 bench --loss vmf``: the sweep over :data:`VOCAB_SIZES` with ``--dim`` hidden units. ``--repeats``
    and ``--warmup`` left at the defaults of ``in5550 bench`` (made for a step of milliseconds) become
    :data:`REPEATS` and :data:`WARMUP` here: a softmax step over 200k words takes seconds on a CPU."""
    from in5550 import bench
    from in5550.errors import UsageError

    if args.device != "cpu":
        raise UsageError("--loss vmf runs on the CPU only (the vMF loss takes its Bessel functions from SciPy)")
    if args.vocab_size != bench.VOCAB_SIZE:
        raise UsageError(f"--vocab-size does not apply to --loss vmf, which sweeps "
                         f"{', '.join(f'{v:,}' for v in VOCAB_SIZES)} words")
    repeats = REPEATS if args.repeats == bench.REPEATS else args.repeats
    warmup = WARMUP if args.warmup == bench.WARMUP else args.warmup
    rows = bench_output_layers(VOCAB_SIZES, hidden_dim=args.dim, repeats=repeats, warmup=warmup)
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"training step of an output layer: softmax cross-entropy against the vMF loss; {BATCH_SIZE} tokens, "
              f"hidden {args.dim}, target embeddings {EMBEDDING_DIM}, SGD; median of {repeats} steps each, "
              f"alternating; MB: bytes the step holds at its fullest (parameters, saved tensors, outputs, gradients)")
        print(format_table(rows))
    return 0
