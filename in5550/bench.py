"""``in5550 bench``: how fast, and how memory-hungry, our nodes are next to PyTorch's, on a full training step.

A step is what training repeats: forward through :class:`in5550.nn.MLPClassifier`, the cross-entropy loss,
backward, and an Adam update. Both backends get the same model (same seed), the same batches and the same
optimiser, and are timed alternately in one process (custom first on even rounds, torch first on odd ones), so
that a background load or a warming cache hits both alike. Reported per batch size: the median milliseconds per
step, the ratio custom/torch, and the bytes that the forward pass saves for backward, counted with
``torch.autograd.graph.saved_tensors_hooks`` (every saved tensor once, parameters included: they are saved by
both backends alike); on CUDA also the peak memory allocated during a step.

With ``compile=True`` (``in5550 bench --compile``) each batch size gets a second row, marked ``"compiled": True``:
the same step with the forward and the loss of each backend compiled by ``torch.compile(..., fullgraph=True)``
into one static graph (AOTAutograd compiles the backward graph; ``backward`` and the optimiser step run outside,
as PyTorch users compile a training step). Compiling takes a minute or more per backend and batch size; the
untimed warm-up steps include it.

Example::

    >>> rows = bench("cpu", batch_sizes=(8,), vocab_size=50, embedding_dim=4, hidden_dim=4, repeats=2, warmup=0)
    >>> sorted(rows[0])
    ['batch_size', 'custom_ms', 'custom_saved_bytes', 'device', 'ratio', 'torch_ms', 'torch_saved_bytes']
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from in5550.errors import UsageError
from in5550.nn import BACKENDS, MLPClassifier

BATCH_SIZES = (32, 512)
VOCAB_SIZE = 15_000
EMBEDDING_DIM = 256
HIDDEN_DIM = 256
NUM_CLASSES = 2
SENTENCE_LENGTHS = (10, 30)  # tokens per sentence, drawn uniformly: SST-2's sentences average 19 words
DROPOUT = 0.5
REPEATS = 30
WARMUP = 5


def make_batch(batch_size: int, vocab_size: int, generator: torch.Generator, device: str = "cpu"):
    """A random batch in embedding-bag form: ``(ids, offsets, labels)``, sentence lengths in
    :data:`SENTENCE_LENGTHS`, ids in ``[1, vocab_size)`` (0 is padding)."""
    lengths = torch.randint(SENTENCE_LENGTHS[0], SENTENCE_LENGTHS[1] + 1, (batch_size,), generator=generator)
    ids = torch.randint(1, vocab_size, (int(lengths.sum()),), generator=generator)
    offsets = torch.cumsum(lengths, 0) - lengths
    labels = torch.randint(0, NUM_CLASSES, (batch_size,), generator=generator)
    return ids.to(device), offsets.to(device), labels.to(device)


def saved_bytes(function: Callable[[], torch.Tensor]) -> int:
    """Bytes of the tensors that autograd saves for backward while ``function()`` runs a forward pass; a tensor
    saved twice (the same storage, offset, shape and strides) counts once.

    >>> x = torch.ones(10, requires_grad=True)
    >>> saved_bytes(lambda: (x * x).sum())   # mul saves both operands: the same tensor, 40 bytes
    40
    """
    seen: dict = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride(),
               tensor.dtype)
        seen[key] = tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function()
    return sum(seen.values())


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def bench(device: str = "cpu", batch_sizes: Sequence[int] = BATCH_SIZES, vocab_size: int = VOCAB_SIZE,
          embedding_dim: int = EMBEDDING_DIM, hidden_dim: int = HIDDEN_DIM, repeats: int = REPEATS,
          warmup: int = WARMUP, seed: int = 0, compile: bool = False) -> list[dict]:
    """Time a training step of both backends at each batch size; one dict per batch size, and with ``compile`` a
    second one for the compiled step (see the module doc)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"bench: device {device!r} requested but CUDA is not available")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"bench: repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    models, optimizers = {}, {}
    for backend in BACKENDS:
        torch.manual_seed(seed)
        models[backend] = MLPClassifier(vocab_size, embedding_dim, [hidden_dim], NUM_CLASSES, DROPOUT,
                                        backend).to(device)
        optimizers[backend] = torch.optim.Adam(models[backend].parameters(), lr=1e-3)

    def eager(backend: str, batch) -> torch.Tensor:
        ids, offsets, labels = batch
        return models[backend].loss(models[backend](ids, offsets), labels)

    # one compiled function per backend: the graph is captured on the first call (at each new batch size)
    # (static shapes: each batch size gets a graph of its own, as a fixed-size training loop would)
    compiled = {backend: torch.compile(lambda batch, backend=backend: eager(backend, batch), fullgraph=True,
                                       dynamic=False) for backend in BACKENDS} if compile else {}

    def step(forward, backend: str, batch) -> float:
        """One training step; its wall time in milliseconds."""
        _synchronize(device)
        start = time.perf_counter()
        loss = forward(backend, batch)
        optimizers[backend].zero_grad()
        loss.backward()
        optimizers[backend].step()
        _synchronize(device)
        return (time.perf_counter() - start) * 1e3

    def measure(forward, batch, untimed: int, extra: dict) -> dict:
        times: dict = {backend: [] for backend in BACKENDS}
        for round_ in range(untimed + repeats):
            for backend in (BACKENDS if round_ % 2 == 0 else reversed(BACKENDS)):
                elapsed = step(forward, backend, batch)
                if round_ >= untimed:
                    times[backend].append(elapsed)
        row = {"device": device, "batch_size": len(batch[2]), **extra}
        for backend in BACKENDS:
            row[f"{backend}_ms"] = statistics.median(times[backend])
        row["ratio"] = row["custom_ms"] / row["torch_ms"]
        for backend in BACKENDS:
            row[f"{backend}_saved_bytes"] = saved_bytes(lambda: forward(backend, batch))
        if device.startswith("cuda"):
            for backend in BACKENDS:
                torch.cuda.reset_peak_memory_stats(device)
                step(forward, backend, batch)
                row[f"{backend}_peak_bytes"] = torch.cuda.max_memory_allocated(device)
        return row

    generator = torch.Generator().manual_seed(seed)
    rows = []
    for batch_size in batch_sizes:
        batch = make_batch(batch_size, vocab_size, generator, device)
        rows.append(measure(eager, batch, warmup, {}))
        if compile:  # the first call compiles: never timed
            rows.append(measure(lambda backend, batch: compiled[backend](batch), batch, max(warmup, 1),
                                {"compiled": True}))
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """The rows of :func:`bench` as a plain-text table."""
    cuda = "custom_peak_bytes" in rows[0]
    header = ["device", "batch", "step", "custom ms", "torch ms", "custom/torch", "saved custom", "saved torch"]
    header += ["peak custom", "peak torch"] if cuda else []
    lines = [header]
    for row in rows:
        line = [row["device"], str(row["batch_size"]), "compiled" if row.get("compiled") else "eager",
                f"{row['custom_ms']:.2f}", f"{row['torch_ms']:.2f}", f"{row['ratio']:.3f}"]
        line += [f"{row[f'{backend}_saved_bytes'] / 1e6:.2f} MB" for backend in BACKENDS]
        line += [f"{row[f'{backend}_peak_bytes'] / 1e6:.1f} MB" for backend in BACKENDS] if cuda else []
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in lines)


def add_arguments(parser) -> None:
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run (default cpu)")
    parser.add_argument("--json", action="store_true", help="print one JSON list, a row per batch size")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help=f"timed steps per backend and size (default {REPEATS})")
    parser.add_argument("--warmup", type=int, default=WARMUP, help=f"untimed steps first (default {WARMUP})")
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE,
                        help=f"rows of the embedding table (default {VOCAB_SIZE})")
    parser.add_argument("--compile", action="store_true",
                        help="also time the step with the forward and loss compiled by torch.compile (slow to start)")
    parser.add_argument("--loss", choices=("cross-entropy", "vmf"), default="cross-entropy",
                        help="vmf: a softmax output layer against the vMF loss as the vocabulary grows from 5k to "
                             "200k words (in5550.vmf_bench; --dim is the hidden size, 5 steps each by default)")
    parser.add_argument("--dim", type=int, default=EMBEDDING_DIM,
                        help=f"embedding and hidden size (default {EMBEDDING_DIM}); a tiny model such as "
                             f"--vocab-size 200 --dim 8 times little but the cost of calling each node")


def run(args) -> int:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if args.repeats < 1 or args.warmup < 0:
        raise UsageError(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    if args.vocab_size < 2 or args.dim < 1:
        raise UsageError(f"--vocab-size must be >= 2 and --dim >= 1, got {args.vocab_size} and {args.dim}")
    if args.loss == "vmf":
        from in5550 import vmf_bench
        return vmf_bench.run(args)
    rows = bench(args.device, vocab_size=args.vocab_size, embedding_dim=args.dim, hidden_dim=args.dim,
                 repeats=args.repeats, warmup=args.warmup, compile=args.compile)
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"training step of MLPClassifier (vocabulary {args.vocab_size}, embedding and hidden {args.dim}, "
              f"dropout {DROPOUT}, Adam), median of {args.repeats} steps per backend, alternating")
        print(format_table(rows))
    return 0
