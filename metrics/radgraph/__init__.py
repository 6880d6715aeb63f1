"""The radgraph metric."""
