# Appended to correct.py. Near miss: Tanh's backward approximates the derivative by a one-sided finite
# difference with step 1e-3, (tanh(x + h) - tanh(x)) / h: off by about h/2 * |tanh''(x)|, some 1e-4 to 1e-3,
# far outside the tolerance. Tanh loses its backward and hidden-input points, and keeps its forward points.


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.tanh(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        h = 1e-3
        return grad_output * (torch.tanh(x + h) - torch.tanh(x)) / h
