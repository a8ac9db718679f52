"""Escape probes: each test packs a program that tries to reach past its policy and asserts the
exact outcome (errno, log line). They run ONLY packed, never natively, and every attempted call
is harmless even if it got through (loopback ports nobody listens on, scratch paths).

The e2e helpers (litebox_e2e, netprobe) are importable through tests/conftest.py, which puts
tests/e2e on sys.path.
"""
