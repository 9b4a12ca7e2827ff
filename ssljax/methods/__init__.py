"""Self-supervised methods, one small module each, sharing `ssljax.engine`.

`get_method(config, num_classes)` builds the method named by `config.method`.
"""

from __future__ import annotations

import difflib

import ml_collections

from ssljax.errors import ConfigError
from ssljax.methods.barlowtwins import BarlowTwins
from ssljax.methods.base import Method, SSLModel, StepOutput
from ssljax.methods.byol import BYOL
from ssljax.methods.dino import DINO
from ssljax.methods.mocov2 import MoCoV2
from ssljax.methods.mocov3 import MoCoV3
from ssljax.methods.simclr import SimCLR
from ssljax.methods.simsiam import SimSiam
from ssljax.methods.vicreg import VICReg

METHODS: dict[str, type[Method]] = {
    "simclr": SimCLR,
    "byol": BYOL,
    "simsiam": SimSiam,
    "mocov2": MoCoV2,
    "mocov3": MoCoV3,
    "barlowtwins": BarlowTwins,
    "vicreg": VICReg,
    "dino": DINO,
}


def method_names() -> tuple[str, ...]:
    """Names accepted by `config.method`."""
    return tuple(sorted(METHODS))


def get_method(config: ml_collections.ConfigDict, num_classes: int) -> Method:
    """Builds the configured method, or raises a one-line `ConfigError`."""
    name = config.method
    if name not in METHODS:
        close = difflib.get_close_matches(str(name), METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"unknown method {name!r}{hint}; choose one of {', '.join(method_names())}"
        )
    return METHODS[name](config, num_classes)


__all__ = ["METHODS", "Method", "SSLModel", "StepOutput", "get_method", "method_names"]
