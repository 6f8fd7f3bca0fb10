"""Every function of the NumPy reference, forward and backward, names itself and the argument when an argument is
of the wrong kind or shape: the same checks for each, written once here for all of them."""

import inspect

import numpy as np
import pytest

from in5550 import reference as ref

rng = np.random.default_rng(7)
STRINGS = np.array([["a", "b"]])  # an argument that is not numbers at all


MATH_HELPERS = {"log_bessel_i"}  # a function of numbers, not a node: tested against mpmath in test_reference


def _unit(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (the vMF loss's targets are unit embeddings)."""
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


# valid arguments of each forward function (the backward takes grad_output first, then the same)
VALID = {
    "add": dict(input=rng.normal(size=(2, 3)), other=rng.normal(size=3)),
    "mul": dict(input=rng.normal(size=(2, 3)), other=rng.normal(size=3)),
    "exp": dict(input=rng.normal(size=(2, 3))),
    "log": dict(input=rng.uniform(0.5, 2, size=(2, 3))),
    "relu": dict(input=rng.normal(size=(2, 3))),
    "sigmoid": dict(input=rng.normal(size=(2, 3))),
    "tanh": dict(input=rng.normal(size=(2, 3))),
    "linear": dict(input=rng.normal(size=(4, 3)), weight=rng.normal(size=(2, 3)), bias=rng.normal(size=2)),
    "softmax": dict(input=rng.normal(size=(2, 3)), dim=1),
    "log_softmax": dict(input=rng.normal(size=(2, 3)), dim=1),
    "nll_loss": dict(input=rng.normal(size=(4, 3)), target=np.array([0, 2, 1, 2]), weight=rng.uniform(1, 2, 3)),
    "cross_entropy": dict(input=rng.normal(size=(4, 3)), target=np.array([0, 2, 1, 2]), weight=rng.uniform(1, 2, 3)),
    "binary_cross_entropy": dict(input=rng.uniform(0.1, 0.9, (2, 3)), target=rng.uniform(0, 1, (2, 3)),
                                 weight=rng.uniform(1, 2, (2, 3))),
    "binary_cross_entropy_with_logits": dict(input=rng.normal(size=(2, 3)), target=rng.uniform(0, 1, (2, 3)),
                                             weight=rng.uniform(1, 2, (2, 3)), pos_weight=rng.uniform(1, 2, 3)),
    "mse_loss": dict(input=rng.normal(size=(2, 3)), target=rng.normal(size=(2, 3))),
    "embedding": dict(input=np.array([[1, 3], [0, 2]]), weight=rng.normal(size=(5, 3))),
    "embedding_bag": dict(input=np.array([1, 2, 0, 4]), weight=rng.normal(size=(5, 3)), offsets=np.array([0, 2])),
    "dropout": dict(input=rng.normal(size=(2, 3)), mask=np.array([[1, 0, 1], [1, 1, 0]]), p=0.25),
    "vmf_loss": dict(input=rng.normal(size=(4, 3)), target=_unit(rng.normal(size=(4, 3)))),
}
LOSSES = ["nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss",
          "vmf_loss"]
# arguments that hold numbers (a mask is any array: its non-zero entries are kept)
ARRAYS = {name: [a for a, v in args.items() if isinstance(v, np.ndarray) and a != "mask"] for name, args in VALID.items()}


def test_every_public_function_is_covered():
    public = {n for n, f in inspect.getmembers(ref, inspect.isfunction) if not n.startswith("_")
              and f.__module__ == ref.__name__ and not n.startswith("mlp_") and n not in MATH_HELPERS}
    assert public == set(VALID) | {name + "_backward" for name in VALID}


def call(name, backward=False, **change):
    args = {**VALID[name], **change}
    if not backward:
        return getattr(ref, name)(**args)
    grad_output = change.pop("grad_output", None)
    if grad_output is None:
        grad_output = np.ones_like(getattr(ref, name)(**VALID[name]))
    return getattr(ref, name + "_backward")(grad_output, **{**VALID[name], **change})


@pytest.mark.parametrize("name", VALID)
def test_valid_arguments_give_an_output_and_a_gradient_per_input(name):
    out = call(name)
    grads = call(name, backward=True)
    assert isinstance(grads, tuple) and np.all(np.isfinite(out))
    assert all(g is None or np.all(np.isfinite(g)) for g in grads)


# Functions that check their input by calling another function, whose name the error gives instead of their own
# (better: check the input first, under the function's own name). Either name is accepted for these, so that
# the test holds before and after that fix.
BORROWED_NAMES = {"softmax": "log_softmax", "softmax_backward": "log_softmax", "log_softmax_backward": "log_softmax",
                  "sigmoid_backward": "sigmoid", "tanh_backward": "tanh"}


def named(function, *cases):
    """The parameter set, with the name the error may give: the function's own, or the one it calls."""
    names = "|".join([function] + ([BORROWED_NAMES[function]] if function in BORROWED_NAMES else []))
    return pytest.param(function, *cases, f"(?:{names})", id="-".join([function, *map(str, cases)]))


@pytest.mark.parametrize("function, argument, names", [named(n + suffix, a) for n in VALID for a in ARRAYS[n]
                                                       for suffix in ("", "_backward")])
def test_an_argument_that_is_not_numbers_is_named(function, argument, names):
    name = function.removesuffix("_backward")
    with pytest.raises(TypeError, match=rf"^{names}: argument '{argument}' must "):
        call(name, function != name, **{argument: STRINGS})


@pytest.mark.parametrize("name", VALID)
def test_grad_output_of_another_shape_is_named(name):
    shape = np.shape(call(name))
    wrong = np.ones(tuple(shape) + (2,))
    with pytest.raises(ValueError, match=rf"^{name}_backward: argument 'grad_output' must have the output's shape "
                                         rf"{re_shape(shape)}, got {re_shape(wrong.shape)}$"):
        call(name, backward=True, grad_output=wrong)


@pytest.mark.parametrize("name", VALID)
def test_integer_grad_output_gives_the_same_float64_gradients(name):
    grad_output = np.full(np.shape(call(name)), 2)
    for wanted, grad in zip(call(name, backward=True, grad_output=grad_output.astype(float)),
                            call(name, backward=True, grad_output=grad_output)):
        assert grad is None or (grad.dtype == np.float64 and np.array_equal(grad, wanted)), name


def re_shape(shape):
    return "\\(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + "\\)"


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
def test_an_unknown_reduction_is_named(name, backward):
    function = name + "_backward" if backward else name
    with pytest.raises(ValueError, match=rf"^{function}: argument 'reduction' must be one of \('none', 'mean', "
                                         rf"'sum'\), got 'avg'$"):
        call(name, backward, reduction="avg")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", LOSSES)
def test_each_reduction_by_hand_from_the_unreduced_loss(name, reduction):
    per_element = call(name, reduction="none")
    out = call(name, reduction=reduction)
    if reduction == "none":
        np.testing.assert_array_equal(out, per_element)
    elif reduction == "sum":
        np.testing.assert_allclose(out, per_element.sum(), rtol=1e-13)
    elif name in ("nll_loss", "cross_entropy"):  # the mean is weighted by the targets' class weights
        weights = VALID[name]["weight"][VALID[name]["target"]]
        np.testing.assert_allclose(out, per_element.sum() / weights.sum(), rtol=1e-13)
    else:
        np.testing.assert_allclose(out, per_element.mean(), rtol=1e-13)
    # the backward of the sum and of the mean spread one upstream number over every element
    if reduction != "none":
        scale = 1.0 if reduction == "sum" else float(out) / float(per_element.sum())
        grads = call(name, backward=True, reduction=reduction, grad_output=np.array(2.0))
        spread = call(name, backward=True, reduction="none", grad_output=np.full(per_element.shape, 2.0 * scale))
        np.testing.assert_allclose(grads[0], spread[0], rtol=1e-12)


@pytest.mark.parametrize("function, names", [named(f) for f in ("softmax", "softmax_backward", "log_softmax",
                                                                 "log_softmax_backward")])
def test_a_dim_out_of_range_is_named(function, names):
    name = function.removesuffix("_backward")
    backward = function != name
    for dim in (2, -3):
        with pytest.raises(ValueError, match=rf"^{names}: argument 'dim' is {dim}, out of range for input of "
                                             r"shape \(2, 3\)$"):
            call(name, backward, dim=dim)
    # -2 and 1 are the last ones in range
    call(name, backward, dim=-2)
