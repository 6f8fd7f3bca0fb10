# Appended to correct.py. Mistake: EmbeddingBag keeps its weight gradient in a buffer between calls and adds to
# it (+=) where each call should start from zero: the second backward returns twice the gradient.


class EmbeddingBag(torch.autograd.Function):
    grad_weight = None  # reused "to save memory"

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
        if EmbeddingBag.grad_weight is None or EmbeddingBag.grad_weight.shape != ctx.weight_shape:
            EmbeddingBag.grad_weight = torch.zeros(ctx.weight_shape, dtype=grad_output.dtype)
        for bag, (start, end) in enumerate(bags(input, offsets)):
            for token in input[start:end]:
                EmbeddingBag.grad_weight[token] += grad_output[bag] / (end - start)
        return None, EmbeddingBag.grad_weight, None
