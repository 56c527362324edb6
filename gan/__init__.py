"""gan: when should a GAN use LeakyReLU instead of ReLU? Measured, not folklore."""

__version__ = "0.1.0"
