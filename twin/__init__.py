"""The park twin: a digital twin of a national zero-carbon industrial park."""

__version__ = "0.1.0"
