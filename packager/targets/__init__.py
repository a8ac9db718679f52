"""Target plugins: the plugin contract, their discovery and checks, the cargo build every plugin's
runtime shares, and probes of the host's sandbox layers."""
