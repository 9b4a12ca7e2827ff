"""One registry idiom for everything chosen by name in a config.

Methods (`config.method`), encoders (`encoder.name`), optimizers (`optimizer.name`),
augmentation presets (`augment.preset`) and dataset sources (`dataset.name`) are each a
`Registry`: a read-only mapping from name to object, a `register()` that adds one (also
usable as a decorator), and a lookup whose error names the config key, suggests the
closest name and lists the valid ones:

    >>> PRESETS = Registry("augmentation preset", key="augment.preset")
    >>> @PRESETS.register("digits")
    ... def digits(block, image_size): ...
    >>> PRESETS.lookup("digts")
    Traceback (most recent call last):
    ssljax.errors.ConfigError: unknown augmentation preset 'digts' (did you mean 'digits'?);
    set --config.augment.preset to one of: digits

Registering a name twice is an error unless `replace=True` (so two modules cannot silently
shadow each other).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from ssljax.errors import ConfigError

T = TypeVar("T")


def did_you_mean(name: str, choices: Any) -> str:
    """`" (did you mean 'x'?)"` for the closest of `choices`, or `""` when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry(Mapping[str, T], Generic[T]):
    """Name → object, with `register()` and a one-line did-you-mean error on lookup.

    Args:
      kind: what the entries are, for messages ("method", "encoder", ...).
      key: the config key that names an entry ("method", "encoder.name", ...).
    """

    def __init__(self, kind: str, *, key: str):
        self.kind = kind
        self.key = key
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None, *, replace: bool = False) -> Any:
        """Adds `obj` under `name`; without `obj`, returns a decorator that does.

        Raises:
          ValueError: `name` is taken and `replace` is False.
        """

        def add(o: T) -> T:
            if name in self._entries and not replace:
                raise ValueError(f"{self.kind} {name!r} is already registered; pass "
                                 "replace=True to replace it")
            self._entries[name] = o
            return o

        return add(obj) if obj is not None else add

    def unregister(self, name: str) -> None:
        """Removes `name` (no error if it is absent)."""
        self._entries.pop(name, None)

    def lookup(self, name: str) -> T:
        """The entry `name`; an unknown name raises a one-line `ConfigError`."""
        if name in self._entries:
            return self._entries[name]
        raise ConfigError(self.unknown_message(name))

    def unknown_message(self, name: Any) -> str:
        """The error line for an unknown `name`."""
        return (f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}; set "
                f"--config.{self.key} to one of: {', '.join(self.names())}")

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._entries))

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self.names())})"

