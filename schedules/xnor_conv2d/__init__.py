"""XNOR + popcount convolution of ±1 activations by ±1 weights (docs/numerics.md, "Sign layers")."""
