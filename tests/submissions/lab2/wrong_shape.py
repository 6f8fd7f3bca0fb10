# Appended to correct.py. Mistake: EmbeddingBag's forward keeps the reduced dimension (keepdim=True), so its
# output has shape (B, 1, D) where (B, D) is expected. Its backward is right.


class EmbeddingBag(torch.autograd.Function):
    @staticmethod
    def forward(input, weight, offsets):
        return torch.stack([bag_mean(weight[input[start:end]]).unsqueeze(0) for start, end in bags(input, offsets)])

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
            for token in input[start:end]:
                grad_weight[token] += grad_output[bag] / (end - start)
        return None, grad_weight, None
