# Appended to correct.py. Mistake: Softmax and CrossEntropy exponentiate the logits without subtracting their
# maximum first. Right on ordinary inputs, but exp overflows on large logits (inf / inf is NaN; the log of inf is
# inf). Softmax loses its hidden-input points (its visible cases have small logits); CrossEntropy, whose visible
# cases include large logits, loses all its points.


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(input, dim):
        exp = torch.exp(input)
        return exp / exp.sum(dim, keepdim=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return y * (grad_output - (grad_output * y).sum(ctx.dim, keepdim=True)), None


class CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(input, target):
        log_p = input - torch.exp(input).sum(1, keepdim=True).log()
        return -log_p[torch.arange(input.shape[0]), target].mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        exp = torch.exp(input)
        grad = exp / exp.sum(1, keepdim=True)
        grad[torch.arange(input.shape[0]), target] -= 1
        return grad_output * grad / input.shape[0], None
