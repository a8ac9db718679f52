"""The front end: the `litebox` command line and its commands (pack, inspect, verify, run, init,
targets). Nothing here decides an artifact's bytes (the build's code digest leaves it out)."""
