"""Errors a user can fix. The launch scripts print them as one line and exit with status 2 (no traceback)."""

import json


def one_line(error, limit=300):
    """An exception's message on one line (third-party messages can span many), or its type's name."""
    return " ".join(str(error).split())[:limit] or type(error).__name__


class AAEError(Exception):
    """A problem with the user's input or environment; the message names it and the fix."""


class ConfigError(AAEError):
    """A bad flag value or an inconsistent configuration."""


def read_json(path, fix):
    """The JSON a user's file holds (a run's config.json, an evaluation); a file that is missing, unreadable, torn or
    hand-edited into invalid JSON is an AAEError that names the file and ends with `fix`."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        reason = "is missing"
    except OSError as error:
        reason = f"cannot be read ({error.strerror})"
    except ValueError as error:
        reason = f"is not valid JSON ({one_line(error, 160)})"
    raise AAEError(f"{path} {reason}; {fix}")


class TrainingStopped(Exception):
    """Training stopped on a signal after writing a checkpoint; the launch script exits with 128 + signum."""

    def __init__(self, signum):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum
