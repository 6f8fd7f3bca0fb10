# Appended to correct.py. Hostile: Tanh's forward raises an error whose message holds lone surrogates (which
# cannot be encoded as UTF-8), and the import writes bytes that are not UTF-8 to its output. The report, its
# summary and results.json must still be written; Tanh loses its points, nothing else.
import os

os.write(1, b"import done \xff\xed\xb3\xbf\n")


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        raise ValueError("bad value \udcff\ud800 in forward")

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output
