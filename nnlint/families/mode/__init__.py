"""The mode family: models evaluated in training mode, or left in evaluation mode for training."""
