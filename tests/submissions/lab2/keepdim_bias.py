# Appended to correct.py. Mistake: Linear's bias gradient is summed over the batch with keepdim=True, so it has
# shape (1, out) where the bias has shape (out,). Linear loses its backward and hidden-input points, and the
# feedback names keepdim (not "not summed over the batch", which it is).


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(input, weight, bias):
        return input @ weight.T + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return grad_output @ weight, grad_output.T @ input, grad_output.sum(0, keepdim=True)
