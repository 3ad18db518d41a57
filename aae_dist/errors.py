"""Errors a user can fix. The launch scripts print them as one line and exit with status 2 (no traceback)."""


def one_line(error, limit=300):
    """An exception's message on one line (third-party messages can span many), or its type's name."""
    return " ".join(str(error).split())[:limit] or type(error).__name__


class AAEError(Exception):
    """A problem with the user's input or environment; the message names it and the fix."""


class ConfigError(AAEError):
    """A bad flag value or an inconsistent configuration."""


class TrainingStopped(Exception):
    """Training stopped on a signal after writing a checkpoint; the launch script exits with 128 + signum."""

    def __init__(self, signum):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum
