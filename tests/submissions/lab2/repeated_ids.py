# Appended to correct.py. Mistake: EmbeddingBag assigns the rows of its weight gradient (grad[ids] = ...), so the
# gradient of a token id that occurs more than once is not added up.


class EmbeddingBag(torch.autograd.Function):
    @staticmethod
    def forward(input, weight, offsets):
        return torch.stack([bag_mean(weight[input[start:end]]) for start, end in bags(input, offsets)])

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, offsets = inputs
        ctx.weight_shape = weight.shape
        ctx.save_for_backward(input, offsets)

    @staticmethod
    def backward(ctx, grad_output):
        input, offsets = ctx.saved_tensors
        grad_weight = torch.zeros(ctx.weight_shape, dtype=grad_output.dtype)
        for bag, (start, end) in enumerate(bags(input, offsets)):
            grad_weight[input[start:end]] = grad_output[bag] / (end - start)
        return None, grad_weight, None
