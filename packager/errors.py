"""The one exception type of the packager."""


class PackError(Exception):
    """A user-facing failure. ``str(err)`` is the whole one-line message (without the
    ``litebox: error:`` prefix, which the CLI adds); the CLI prints it and exits 2."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
