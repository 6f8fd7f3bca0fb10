# Appended to correct.py. Mistake: Linear's weight gradient is transposed (input.T @ grad_output).


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
        return grad_output @ weight, input.T @ grad_output, grad_output.sum(0)
