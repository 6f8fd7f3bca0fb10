"""A correct lab 2 submission, written differently from the lab's own solution (loops, torch's own forward
functions): it gets full marks. The other files here are appended to it, each replacing one or more nodes."""

import torch


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (s,) = ctx.saved_tensors
        return grad_output * s * (1 - s)


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.tanh(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.where(input > 0, input, torch.zeros_like(input))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, grad_output, torch.zeros_like(grad_output))


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(input, weight, bias):
        return input.matmul(weight.t()) + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_weight = torch.zeros_like(weight)
        for n in range(input.shape[0]):
            grad_weight += torch.outer(grad_output[n], input[n])
        return grad_output.matmul(weight), grad_weight, grad_output.sum(dim=0)


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(input, dim):
        return torch.softmax(input, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        dot = (grad_output * y).sum(dim=ctx.dim, keepdim=True)
        return y * (grad_output - dot), None


class CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(input, target):
        log_p = torch.log_softmax(input, dim=1)
        return -log_p[torch.arange(input.shape[0]), target].mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad = torch.softmax(input, dim=1)
        grad[torch.arange(input.shape[0]), target] -= 1
        return grad_output * grad / input.shape[0], None


def bags(input, offsets):
    """(start, end) of each bag."""
    ends = offsets[1:].tolist() + [len(input)]
    return list(zip(offsets.tolist(), ends))


def bag_mean(rows):
    """The mean of a bag's embeddings; an empty bag's is zero (as PyTorch's)."""
    return rows.mean(0) if len(rows) else rows.new_zeros(rows.shape[1:])


class EmbeddingBag(torch.autograd.Function):
    @staticmethod
    def forward(input, weight, offsets):
        return torch.stack([bag_mean(weight[input[start:end]]) for start, end in bags(input, offsets)])

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, offsets = inputs
        ctx.weight_shape = weight.shape
        ctx.save_for_backward(input, offsets)

    @staticmethod
    def backward(ctx, grad_output):
        input, offsets = ctx.saved_tensors
        grad_weight = torch.zeros(ctx.weight_shape, dtype=grad_output.dtype)
        for bag, (start, end) in enumerate(bags(input, offsets)):
            for token in input[start:end]:
                grad_weight[token] += grad_output[bag] / (end - start)
        return None, grad_weight, None
