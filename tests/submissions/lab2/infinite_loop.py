# Appended to correct.py. Hostile: Softmax's forward never returns. Only Softmax may lose its points.


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(input, dim):
        while True:
            pass

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None
