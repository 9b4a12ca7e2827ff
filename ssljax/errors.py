"""User-facing errors: one line that names the problem and the fix.

Programs catch `SSLJaxError` at the top level and print `ssljax: error: <msg>`
on stderr with exit status 2 and no traceback. Library functions (losses,
augmentations) raise plain `ValueError`s instead, as JAX code expects.
"""


class SSLJaxError(Exception):
    """Base class of errors whose message alone tells the user what to do."""


class ConfigError(SSLJaxError, ValueError):
    """A config value is unknown, missing or inconsistent."""


class DataError(SSLJaxError, ValueError):
    """A dataset cannot be found, read or used as configured."""


class CheckpointError(SSLJaxError):
    """A checkpoint or workdir cannot be used as asked."""


class NumericalError(SSLJaxError):
    """A loss or gradient stopped being finite; the message names the step and the fix."""
