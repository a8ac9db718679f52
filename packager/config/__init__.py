"""The configuration: litebox.toml and CLI flags → a validated ``Config``, with its [policy]."""
