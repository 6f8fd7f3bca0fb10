# Appended to correct.py. Mistake: EmbeddingBag's backward spreads each bag's gradient over its tokens with a
# (bags x tokens) matrix of 1 / bag size, without guarding the empty bag: its row is 0 / 0 = NaN, and the matrix
# product carries the NaN into every row of the weight gradient. The forward is right: EmbeddingBag loses its
# backward and hidden-input points, and the feedback says NaN.


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
        bag_of_token = torch.tensor([bag for bag, (start, end) in enumerate(bags(input, offsets))
                                     for _ in range(start, end)])
        member = (bag_of_token[None, :] == torch.arange(len(offsets))[:, None]).to(grad_output.dtype)
        spread = member / member.sum(1, keepdim=True)
        grad_weight = torch.zeros(ctx.weight_shape, dtype=grad_output.dtype)
        return None, grad_weight.index_add_(0, input, spread.T @ grad_output), None
