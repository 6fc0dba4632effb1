"""The errors the physics raises, apart from the configuration's.

:class:`~fem_spin.config.ConfigError` belongs to the configuration layer: the parser and the
validators of the [geometry] and [model] sections raise it, naming the key and the file.
Code that runs after the configuration has been parsed (the problem classes, the physics
terms, the solvers, mesh reading) raises a :class:`ModelError` instead: it says what the
physics cannot work with and, where one configuration key drives it, names that key. The
boundary where a run is set up (``fem_spin.simulation``, ``fem_spin.api``, the command line)
turns it into the ConfigError naming the key and the run file
(:func:`fem_spin.config.naming_the_key`): one line, exit code 2, nothing written.

This module imports nothing of fem_spin, so any module may raise these errors.
"""

from __future__ import annotations

__all__ = ["ModelError"]


class ModelError(ValueError):
    """A value the physics cannot work with, found after parsing (while a problem is built or
    solved). ``key`` is the configuration key that drives it (``"model.source_regions"``),
    or None when no single key does; ``str()`` is ``"key: message"``."""

    def __init__(self, message: str, key: str | None = None):
        self.message, self.key = message, key
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message

    def __reduce__(self):  # pickle (MPI) and copy: rebuild from both parts
        return (type(self), (self.message, self.key))
