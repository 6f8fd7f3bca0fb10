# Appended to correct.py. Mistake: Softmax ignores its dim argument and always works along the last dimension.
# Right for 2-D inputs with dim 1 or -1 only: Softmax loses all its points, and the feedback says that dim is
# ignored.


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(input, dim):
        exp = torch.exp(input - input.amax(-1, keepdim=True))
        return exp / exp.sum(-1, keepdim=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return y * (grad_output - (grad_output * y).sum(-1, keepdim=True)), None
