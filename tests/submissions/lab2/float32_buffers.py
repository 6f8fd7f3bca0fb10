# Appended to correct.py. Valid: backward builds its gradients in buffers of PyTorch's default dtype (float32,
# torch.zeros without dtype=), as students often do; PyTorch accepts that (autograd casts the gradient back to
# the input's dtype). The gradients carry float32's precision, within the tolerance: full marks.


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
        grad_weight = torch.zeros(weight.shape)
        grad_bias = torch.zeros(weight.shape[0])
        for n in range(input.shape[0]):
            grad_weight += torch.outer(grad_output[n], input[n])
            grad_bias += grad_output[n]
        return grad_output @ weight, grad_weight, grad_bias


class CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(input, target):
        log_p = torch.log_softmax(input, dim=1)
        return -log_p[torch.arange(input.shape[0]), target].mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        grad = torch.zeros(input.shape)
        grad += torch.softmax(input, dim=1)
        grad[torch.arange(input.shape[0]), target] -= 1
        return grad_output * grad / input.shape[0], None


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
        grad_weight = torch.zeros(ctx.weight_shape)
        for bag, (start, end) in enumerate(bags(input, offsets)):
            for token in input[start:end]:
                grad_weight[token] += grad_output[bag] / (end - start)
        return None, grad_weight, None


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.tanh(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        grad = torch.ones(y.shape)
        grad -= y * y
        return grad_output * grad
