# Appended to correct.py. Valid, if unusual: Sigmoid and Linear use every feature of ctx that PyTorch offers
# (save_for_forward, mark_dirty and mark_non_differentiable with nothing to mark, set_materialize_grads,
# needs_input_grad, saved_tensors read twice, None saved, attributes of their own). PyTorch accepts them; full
# marks.


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable()
        ctx.mark_dirty()
        ctx.save_for_forward(output)
        ctx.save_for_backward(output, None)
        ctx.shape_seen = tuple(output.shape)

    @staticmethod
    def backward(ctx, grad_output):
        if grad_output is None or not ctx.needs_input_grad[0]:
            return None
        s, nothing = ctx.saved_tensors
        assert nothing is None and torch.equal(ctx.saved_tensors[0], s) and ctx.shape_seen == tuple(s.shape)
        return grad_output * s * (1 - s)


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(input, weight, bias):
        return input.matmul(weight.t()) + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, weight, bias = inputs
        ctx.save_for_backward(input, weight)
        ctx.save_for_forward(input, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_output.matmul(weight) if ctx.needs_input_grad[0] else None
        grad_weight = grad_output.t().matmul(input) if ctx.needs_input_grad[1] else None
        grad_bias = grad_output.sum(0) if ctx.needs_input_grad[2] else None
        return grad_input, grad_weight, grad_bias
