# Appended to correct.py. Mistake: EmbeddingBag's backward makes its weight gradient in float64 whatever the
# input's dtype, and index_add_ refuses float32 values into it. Right on the visible (float64) cases: EmbeddingBag
# loses its hidden-input points (the lab promises float32 too).


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
        sizes = torch.tensor([max(end - start, 1) for start, end in bags(input, offsets)])
        bag_of_token = torch.repeat_interleave(torch.arange(len(offsets)), torch.diff(offsets, append=torch.tensor([len(input)])))
        grad_weight = torch.zeros(ctx.weight_shape, dtype=torch.float64)
        return None, grad_weight.index_add_(0, input, (grad_output / sizes[:, None])[bag_of_token]), None
