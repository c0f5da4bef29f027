"""dmpbench: an evaluation suite for generated prompts (Diffusion Meta-Prompts and its peers)."""

__version__ = "0.1.0"
