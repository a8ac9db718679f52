"""The analysis: ELF facts and the library closure, found without running the app, and the
Config → RootFS collection (with a cache of per-file facts)."""
