"""The layers family: module and layer definitions that silently misbehave (dropout, registration, logits, views, biases)."""
