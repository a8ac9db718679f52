"""Escape probes (tests/escape/): packed programs that try to reach what their policy does not
grant, each asserting the exact outcome. They run only packed, never natively. Shared helpers
are in tests/e2e/litebox_e2e.py (on sys.path through tests/conftest.py) and in the helper
modules next to the tests."""
