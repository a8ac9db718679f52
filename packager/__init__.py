"""LiteBox Pack: the build-time packager (Python half)."""

__version__ = "0.1.0"
