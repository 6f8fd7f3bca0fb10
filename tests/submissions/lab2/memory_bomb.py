# Appended to correct.py. Hostile: Sigmoid's forward allocates memory (and touches it) until something gives.


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(input):
        hoard = []
        while True:
            hoard.append(bytearray(1 << 26))

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output
