# Appended to correct.py. Mistake: Linear keeps the weight of its first call in a class attribute "to save
# memory" and uses it on every later call. Right on the first call only: every later case has other inputs, so
# Linear loses all its points.


class Linear(torch.autograd.Function):
    cached_weight = None

    @staticmethod
    def forward(input, weight, bias):
        if Linear.cached_weight is None:
            Linear.cached_weight = weight
        return input @ Linear.cached_weight.T + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output @ Linear.cached_weight, grad_output.T @ input, grad_output.sum(0)
