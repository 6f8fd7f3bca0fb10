# Appended to correct.py. Hostile: every comparison PyTorch offers is patched to say "equal", and Tanh returns
# zeros. Only Tanh may lose points (all of them).

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.isclose = lambda input, other, *args, **kwargs: torch.ones_like(input, dtype=torch.bool)
torch.Tensor.allclose = lambda *args, **kwargs: True
torch.Tensor.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.zeros_like(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)
