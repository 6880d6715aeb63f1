"""LRRG metrics."""
