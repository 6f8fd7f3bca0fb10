"""The corpus of lab 2 submissions (tests/submissions/lab2) and what each must score: shared by the end-to-end
grading in tests/test_grader.py and the in-process grading of tests/test_verdict.py."""

from pathlib import Path

from in5550.grader import Limits
from in5550.grader.lab2 import NODES
from in5550.grader.verdict import POINTS

CORPUS = Path(__file__).resolve().parent / "submissions" / "lab2"
NODE_POINTS = sum(POINTS.values())
FULL = NODE_POINTS * len(NODES)
ALL = tuple(node.name for node in NODES)
LIMITS = Limits(node_s=4, total_s=60, memory_bytes=1 << 30)  # short, so that the hostile ones finish fast
SECRET = "the secret of the tests"
BACKWARD, HIDDEN = POINTS["backward"], POINTS["hidden inputs"]
NAN = "is NaN (not a number)"

# submission -> (points lost, {node that loses points: what the feedback of its first test that lost points says})
EXPECTED = {
    "correct": (0, {}),
    "wrong_sign": (8, {"Tanh": "the gradient for input has the wrong sign"}),
    "transposed_weight": (8, {"Linear": "the gradient for weight is the transpose of the expected one"}),
    "bias_not_summed": (8, {"Linear": "gradient for bias is not summed over the batch"}),
    "missing_mean": (8, {"CrossEntropy": "missing 1/N"}),
    "accumulated_across_calls": (8, {"EmbeddingBag": "accumulated (+=) into storage kept between calls"}),
    "assigned_in_loop": (8, {"Linear": "instead of assigning it (=)"}),
    "repeated_ids": (8, {"EmbeddingBag": "repeated token ids must be added up"}),
    "inplace_grad_output": (8, {"ReLU": "changed grad_output in place"}),
    "wrong_shape": (6, {"EmbeddingBag": "the output of forward has the wrong shape (3, 1, 2); expected (3, 2)"}),
    "infinite_loop": (10, {"Softmax": "Softmax took longer than 4 s"}),
    "exit_at_import": (FULL, {node: "could not be imported: SystemExit: 0" for node in ALL}),
    "exit_in_node": (10, {"CrossEntropy": "the process exited with status 0"}),
    "memory_bomb": (10, {"Sigmoid": "MemoryError"}),
    "writes_results": (0, {}),
    "patches_allclose": (10, {"Tanh": "differs from the expected values"}),
    "autograd_in_backward": (24, {node: "without PyTorch autograd" for node in ("Sigmoid", "Tanh", "ReLU")}),
    "reads_files": (6, {"ReLU": "the output of forward differs from the expected values"}),
    "borrows_package": (7 * 8 + 2, {node: "in5550" for node in ALL}),
    # near misses, tolerance boundaries and float32: each kills a mutation of the tolerances
    "rounded_constant": (NODE_POINTS, {"Sigmoid": "the output of forward differs from the expected values"}),
    "finite_difference": (BACKWARD + HIDDEN, {"Tanh": "the gradient for input differs from the expected values"}),
    "just_inside_tolerance": (0, {}),
    "just_outside_tolerance": (BACKWARD + HIDDEN, {"ReLU": "gradient for input differs from the expected values"}),
    "float32_buffers": (0, {}),
    # input classes that only the hidden cases (or the second of two calls) reach
    "hard_coded_shapes": (HIDDEN, {"EmbeddingBag": "On hidden inputs (mean, repeated ids, float64):"}),
    "no_max_shift": (HIDDEN + NODE_POINTS, {"Softmax": "On hidden inputs (large logits, float64):\nthe output of "
                                            f"forward {NAN}",
                                            "CrossEntropy": "the output of forward is inf in 1 of its 1 entries"}),
    "softmax_ignores_dim": (NODE_POINTS, {"Softmax": "the output of forward is that of a softmax along another "
                                          "dimension than dim"}),
    "caches_first_weights": (NODE_POINTS, {"Linear": "On inputs batch 1: input (1, 6), weight (3, 6), bias (3,):\n"
                                           "the output of forward differs"}),
    "float64_only": (HIDDEN, {"EmbeddingBag": "index_add_(): self (Double) and source (Float) must have the same"}),
    # what a loss or a gradient looks like, and how it is told
    "loss_shape_one": (POINTS["forward"] + HIDDEN, {"CrossEntropy": "forward returns shape (1,), a loss must be a "
                                                    "0-d tensor (use .sum()/.mean() without keepdim)"}),
    "keepdim_bias": (BACKWARD + HIDDEN, {"Linear": "the gradient for bias keeps the summed dimension: its shape is "
                                         "(1, 3) where the parameter's is (3,)"}),
    "nan_gradient": (BACKWARD + HIDDEN, {"EmbeddingBag": f"the gradient for weight {NAN} in 6 of its 8 entries"}),
    "extra_none_gradients": (0, {}),
}

# entries graded only in the sandbox: they loop, exit, exhaust memory, read or write files, patch torch, call
# autograd or import the package, which only the student's own process may do and only its watch sees
SANDBOX_ONLY = {"infinite_loop", "exit_at_import", "exit_in_node", "memory_bomb", "writes_results", "patches_allclose",
                "autograd_in_backward", "reads_files", "borrows_package"}


def submission(name: str, folder: Path) -> Path:
    """The corpus entry ``name`` as a file: correct.py, with the entry's own file appended to it."""
    text = (CORPUS / "correct.py").read_text()
    if name != "correct":
        text += "\n\n" + (CORPUS / f"{name}.py").read_text()
    path = folder / f"{name}.py"
    path.write_text(text)
    return path
