# Appended to correct.py. Mistake: Linear loops over the batch and assigns (=) each example's weight and bias
# gradient where it should add them up (+=): only the last example's share is left.


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
        for n in range(input.shape[0]):
            grad_weight = torch.outer(grad_output[n], input[n])
            grad_bias = grad_output[n]
        return grad_output @ weight, grad_weight, grad_bias
