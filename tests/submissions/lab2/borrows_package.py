# Appended to correct.py. Hostile: Softmax's forward borrows the course package's own node. The runner refuses
# the import (Softmax's forward fails) and the grader finds it in the source: a submission that borrows from
# the package gets no backward points for any node.


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(input, dim):
        from in5550.nodes import Softmax as Borrowed

        return Borrowed.forward(input, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return y * (grad_output - (grad_output * y).sum(ctx.dim, keepdim=True)), None
