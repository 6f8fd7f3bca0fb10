r"""Lab 2: your own autograd Functions.

Write ``forward``, ``setup_context`` and ``backward`` of every node in this file, in the modern style of
``torch.autograd.Function`` (https://pytorch.org/docs/stable/notes/extending.html):

- ``forward(*inputs)`` computes the output from the inputs (it gets no ``ctx``);
- ``setup_context(ctx, inputs, output)`` saves what backward needs: tensors with ``ctx.save_for_backward``,
  anything else (a ``dim``, a shape) as an attribute of ``ctx``;
- ``backward(ctx, grad_output)`` gets :math:`\bar{y} = \partial L / \partial y` and returns
  :math:`\bar{x} = \partial L / \partial x` for each input of ``forward``, in the same order: ``None`` for an
  input that has no gradient (an integer tensor, a ``dim``).

Rules, which the autograder checks:

- ``backward`` computes the gradient itself, from the local derivative you derived and the chain rule, with
  plain tensor operations. It may not call PyTorch autograd (``torch.autograd.grad``, ``.backward()``,
  ``torch.enable_grad``, ``torch.func``, ...) and may not import the course package.
- ``backward`` never changes ``grad_output`` in place (it may be shared with other nodes), and returns a new
  gradient on every call (no buffers kept from one call to the next).
- Every node works in float32 and float64 (the autograder uses float64) and returns the shapes given below.

Test your nodes in ``lab2.ipynb``; submit this file.
"""

import torch


class Sigmoid(torch.autograd.Function):
    r"""Logistic sigmoid, :math:`y = \sigma(x) = 1 / (1 + e^{-x})`, elementwise.

    Local gradient: :math:`\partial y / \partial x = \sigma(x)(1 - \sigma(x)) = y (1 - y)`.
    Shapes: ``input`` any, output like it.
    """

    @staticmethod
    def forward(input):
        ### BEGIN SOLUTION
        return 1 / (1 + torch.exp(-input))
        ### END SOLUTION

    @staticmethod
    def setup_context(ctx, inputs, output):
        ### BEGIN SOLUTION
        ctx.save_for_backward(output)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (output,) = ctx.saved_tensors
        return grad_output * output * (1 - output)
        ### END SOLUTION


class Tanh(torch.autograd.Function):
    r"""Hyperbolic tangent, :math:`y = \tanh(x)`, elementwise.

    Local gradient: :math:`\partial y / \partial x = 1 - \tanh^2(x) = 1 - y^2`.
    Shapes: ``input`` any, output like it.
    """

    @staticmethod
    def forward(input):
        ### BEGIN SOLUTION
        return torch.tanh(input)
        ### END SOLUTION

    @staticmethod
    def setup_context(ctx, inputs, output):
        ### BEGIN SOLUTION
        ctx.save_for_backward(output)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (output,) = ctx.saved_tensors
        return grad_output * (1 - output**2)
        ### END SOLUTION


class ReLU(torch.autograd.Function):
    r"""Rectified linear unit, :math:`y = \max(0, x)`, elementwise.

    Local gradient: :math:`\partial y / \partial x = 1` where :math:`x > 0`, else :math:`0`.
    Shapes: ``input`` any, output like it.
    """

    @staticmethod
    def forward(input):
        ### BEGIN SOLUTION
        return input.clamp(min=0)
        ### END SOLUTION

    @staticmethod
    def setup_context(ctx, inputs, output):
        ### BEGIN SOLUTION
        (input,) = inputs
        ctx.save_for_backward(input)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (input,) = ctx.saved_tensors
        return grad_output * (input > 0).to(grad_output.dtype)
        ### END SOLUTION


class Linear(torch.autograd.Function):
    r"""Affine map of a batch, :math:`Y = X W^\top + b`, as ``torch.nn.functional.linear(input, weight, bias)``.

    Local gradients: :math:`\bar{X} = \bar{Y} W`, :math:`\bar{W} = \bar{Y}^\top X` and
    :math:`\bar{b} = \sum_n \bar{Y}_n` (the bias is added to every row, so its gradient sums over the batch).
    Shapes: ``input`` ``(N, in)``, ``weight`` ``(out, in)``, ``bias`` ``(out,)``; output ``(N, out)``.
    """

    @staticmethod
    def forward(input, weight, bias):
        ### BEGIN SOLUTION
        return input @ weight.T + bias
        ### END SOLUTION

    @staticmethod
    def setup_context(ctx, inputs, output):
        ### BEGIN SOLUTION
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        input, weight = ctx.saved_tensors
        return grad_output @ weight, grad_output.T @ input, grad_output.sum(0)
        ### END SOLUTION


class Softmax(torch.autograd.Function):
    r"""Softmax along ``dim``, :math:`y_i = e^{x_i} / \sum_j e^{x_j}`, as ``torch.softmax(input, dim)``.

    Subtract the maximum along ``dim`` before exponentiating: the result is the same and ``exp`` cannot overflow.
    Local gradient: :math:`\partial y_i / \partial x_j = y_i (\delta_{ij} - y_j)`, so
    :math:`\bar{x} = y \odot (\bar{y} - \sum_j \bar{y}_j y_j)` (no Jacobian matrix needed).
    Shapes: ``input`` any, output like it; ``dim`` an int, which gets no gradient.
    """

    @staticmethod
    def forward(input, dim):
        ### BEGIN SOLUTION
        exp = torch.exp(input - input.amax(dim, keepdim=True))
        return exp / exp.sum(dim, keepdim=True)
        ### END SOLUTION

    @staticmethod
    def setup_context(ctx, inputs, output):
        ### BEGIN SOLUTION
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (output,) = ctx.saved_tensors
        return output * (grad_output - (grad_output * output).sum(ctx.dim, keepdim=True)), None
        ### END SOLUTION


class CrossEntropy(torch.autograd.Function):
    r"""Cross-entropy of logits and class indices, averaged over the batch, as
    ``torch.nn.functional.cross_entropy(input, target)``:
    :math:`L = \frac{1}{N} \sum_n -\log \mathrm{softmax}(x_n)_{t_n}`.

    Local gradient: :math:`\partial L / \partial x_n = (\mathrm{softmax}(x_n) - \mathrm{onehot}(t_n)) / N`.
    Shapes: ``input`` ``(N, C)`` logits, ``target`` ``(N,)`` integer class indices (no gradient); output a
    scalar (shape ``()``).
    """

    @staticmethod
    def forward(input, target):
        ### BEGIN SOLUTION
        shifted = input - input.amax(1, keepdim=True)
        log_probs = shifted - shifted.exp().sum(1, keepdim=True).log()
        return -log_probs.gather(1, target.unsqueeze(1)).mean()
        ### END SOLUTION

    @staticmethod
    def setup_context(ctx, inputs, output):
        ### BEGIN SOLUTION
        input, target = inputs
        ctx.save_for_backward(input, target)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        input, target = ctx.saved_tensors
        one_hot = torch.zeros_like(input).scatter_(1, target.unsqueeze(1), 1.0)
        return grad_output * (torch.softmax(input, 1) - one_hot) / input.shape[0], None
        ### END SOLUTION


class EmbeddingBag(torch.autograd.Function):
    r"""Mean of the embeddings of each bag of token ids, as
    ``torch.nn.functional.embedding_bag(input, weight, offsets, mode="mean")``:
    :math:`y_b = \frac{1}{|b|} \sum_{i \in b} W_{\mathrm{input}_i}`.

    ``input`` holds the ids of all bags one after another; bag :math:`b` starts at ``offsets[b]`` and ends where
    the next one starts (the last one at the end of ``input``).
    Local gradient: row :math:`v` of :math:`\bar{W}` collects :math:`\bar{y}_b / |b|` once for every position
    :math:`i` of bag :math:`b` with :math:`\mathrm{input}_i = v`, so the gradients of repeated ids add up.
    Shapes: ``input`` ``(T,)`` and ``offsets`` ``(B,)`` integers (no gradient), ``weight`` ``(V, D)``; output
    ``(B, D)``.
    """

    @staticmethod
    def forward(input, weight, offsets):
        ### BEGIN SOLUTION
        bags = EmbeddingBag.bag_of_each_token(input, offsets)
        sums = torch.zeros(len(offsets), weight.shape[1], dtype=weight.dtype).index_add_(0, bags, weight[input])
        return sums / EmbeddingBag.bag_sizes(bags, len(offsets), weight.dtype)
        ### END SOLUTION

    @staticmethod
    def setup_context(ctx, inputs, output):
        ### BEGIN SOLUTION
        input, weight, offsets = inputs
        ctx.num_embeddings = weight.shape[0]
        ctx.save_for_backward(input, offsets)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        input, offsets = ctx.saved_tensors
        bags = EmbeddingBag.bag_of_each_token(input, offsets)
        grad_bags = grad_output / EmbeddingBag.bag_sizes(bags, len(offsets), grad_output.dtype)
        grad_weight = torch.zeros(ctx.num_embeddings, grad_output.shape[1], dtype=grad_output.dtype)
        return None, grad_weight.index_add_(0, input, grad_bags[bags]), None
        ### END SOLUTION

    @staticmethod
    def bag_of_each_token(input, offsets):
        """``(T,)``: the index of the bag each token of ``input`` belongs to."""
        lengths = torch.diff(offsets, append=torch.tensor([len(input)]))
        return torch.repeat_interleave(torch.arange(len(offsets)), lengths)

    @staticmethod
    def bag_sizes(bags, num_bags, dtype):
        """``(B, 1)``: the number of tokens in each bag, at least 1 (an empty bag's mean is 0, not 0 / 0)."""
        return torch.bincount(bags, minlength=num_bags).clamp(min=1).to(dtype).unsqueeze(1)
