"""User-facing errors: one line that names the problem and the fix.

Programs catch `SSLJaxError` at the top level and print `ssljax: error: <msg>`
on stderr with exit status 2 and no traceback. Library functions (losses,
augmentations) raise plain `ValueError`s instead, as JAX code expects.
`os_error_message` and `as_os_error` turn file-system errors (also those Orbax and
TensorStore report as text) into such a line.
"""

from __future__ import annotations

import errno
import os
import re


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


def os_error_message(e: OSError, what: str, last_good: str = "") -> str:
    """One line for a file-system error: what failed, the path, the errno name, the fix."""
    name = errno.errorcode.get(e.errno or 0, "error")
    path = e.filename or ""
    hint = {
        "ENOSPC": "free disk space",
        "EROFS": "the file system is read-only: pick a writable --workdir",
        "EACCES": "fix the permissions or pick another --workdir",
        "EPERM": "fix the permissions or pick another --workdir",
        "ENAMETOOLONG": "a path component is longer than the file system allows: pick a "
                        "shorter --workdir",
    }.get(name, "fix the path or pick another --workdir")
    where = f" ({path})" if path else ""
    good = f"; last good checkpoint: {last_good}" if last_good else ""
    return f"{what}{where}: {e.strerror or e} [{name}]{good}; {hint}"


def as_os_error(e: BaseException) -> OSError | None:
    """The file-system error behind an exception: an `OSError`, or one that Orbax /
    TensorStore report as text (`... [os_error_code='28']`); None for other errors."""
    if isinstance(e, OSError):
        return e
    text = str(e)
    m = re.search(r"os_error_code='?(\d+)", text)
    if not m:
        return None
    path = re.search(r'local file "([^"]+)"', text) or re.search(r'writing: "([^"]+)"', text)
    code = int(m.group(1))
    return OSError(code, os.strerror(code), path.group(1) if path else None)
