"""LRRG trainer."""
