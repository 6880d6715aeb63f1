"""LRRG modeling_lrrg."""
