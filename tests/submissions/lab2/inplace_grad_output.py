# Appended to correct.py. Mistake: ReLU's backward zeroes grad_output in place and returns it. The numbers are
# right, but grad_output may be shared with other nodes.


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return input.clamp(min=0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad_output[x <= 0] = 0
        return grad_output
