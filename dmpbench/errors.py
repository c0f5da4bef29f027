"""User-facing errors: the CLI prints them as one line on stderr and exits with code 2."""


class DmpbenchError(Exception):
    """Bad input or a missing resource that the user can fix. Never a bug."""

    exit_code = 2
