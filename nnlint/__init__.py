"""nnlint: a static linter for PyTorch training code.

It finds the bugs that let training run and the loss go down while the model quietly ends up
worse: the loss clipped instead of the gradients, a flipped image with an unflipped mask, and
the like. See README.md and rules/ for what each rule catches.
"""

__version__ = "0.1.0"
