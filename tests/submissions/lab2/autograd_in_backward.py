# Appended to correct.py. Hostile: three backwards let PyTorch autograd do the work. Tanh calls
# torch.autograd.grad in plain sight; Sigmoid calls .backward() in a function outside the class; ReLU reaches
# autograd through a name built at run time, which no reading of the source finds. Each loses its backward
# and hidden-input points, and keeps its forward points.


def _sigmoid_gradient(output, grad_output):
    x = torch.logit(output).detach().requires_grad_()
    with torch.enable_grad():
        torch.sigmoid(x).backward(grad_output)
    return x.grad


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (output,) = ctx.saved_tensors
        return _sigmoid_gradient(output, grad_output)


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.tanh(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            return torch.autograd.grad(torch.tanh(x), x, grad_output)


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.relu(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        engine = getattr(torch, "auto" + "grad")
        mode = getattr(torch, "enable" + "_grad")
        with mode():
            x = x.detach()
            x.requires_grad = True
            return engine.grad(torch.relu(x), x, grad_output)
