"""The setup family: the training set-up around the step (loader shuffling, optimizer coverage, scheduler order, loss totals)."""
