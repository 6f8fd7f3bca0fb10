"""in5550: computation graphs, the forward pass and back-propagation, with hand-written autograd nodes.

The nodes live in :mod:`in5550.nodes` and are used through :mod:`in5550.functional`, which mirrors
:mod:`torch.nn.functional`.
"""

__version__ = "0.1.0"
