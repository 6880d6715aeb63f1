"""LRRG dataset_scripts."""
