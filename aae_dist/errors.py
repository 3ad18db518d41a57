"""Errors a user can fix. The launch scripts print them as one line and exit with status 2 (no traceback)."""


class AAEError(Exception):
    """A problem with the user's input or environment; the message names it and the fix."""


class ConfigError(AAEError):
    """A bad flag value or an inconsistent configuration."""
