"""The chexbert metric."""
