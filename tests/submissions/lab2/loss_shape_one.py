# Appended to correct.py. Mistake: CrossEntropy's forward averages with keepdim=True, so the loss has shape (1,)
# where a loss is a 0-d tensor (shape ()). Its backward is right: CrossEntropy loses its forward and hidden-input
# points, and the feedback names the shape.


class CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(input, target):
        log_p = torch.log_softmax(input, dim=1)
        return -log_p[torch.arange(input.shape[0]), target].mean(0, keepdim=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad = torch.softmax(input, dim=1)
        grad[torch.arange(input.shape[0]), target] -= 1
        return grad_output * grad / input.shape[0], None
