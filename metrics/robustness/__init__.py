"""The robustness metric."""
