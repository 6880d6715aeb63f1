"""LRRG space_app."""
