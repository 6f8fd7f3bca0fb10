# Appended to correct.py. Near miss: Sigmoid uses e rounded to 2.718, so exp(-x) is off by a relative 1e-4 * |x|:
# the output (and the gradient built from it) is off by up to about 1e-3. Sigmoid loses all its points.


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return 1 / (1 + 2.718 ** -input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (s,) = ctx.saved_tensors
        return grad_output * s * (1 - s)
