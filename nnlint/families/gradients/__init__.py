"""The gradients family: gradient clipping and zero_grad() in the wrong place of the training step."""
