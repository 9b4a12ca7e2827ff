"""Self-supervised methods, one small module each, sharing `ssljax.engine`.

`METHODS` is the registry of `config.method` names; `get_method(config, num_classes)`
builds the configured one. A new method is one module with a `Method` subclass, its
configs, its test and one `METHODS.register(...)` line here (docs/adding_a_method.md).
"""

from __future__ import annotations

import ml_collections

from ssljax.methods.autoencoder import AutoEncoder
from ssljax.methods.barlowtwins import BarlowTwins
from ssljax.methods.base import Method, SSLModel, StepOutput
from ssljax.methods.byol import BYOL
from ssljax.methods.colorization import Colorization
from ssljax.methods.context_encoder import ContextEncoder
from ssljax.methods.context_prediction import ContextPrediction
from ssljax.methods.cpc import CPC
from ssljax.methods.dcl import DCL, DCLW
from ssljax.methods.dino import DINO
from ssljax.methods.dinov2 import DINOv2
from ssljax.methods.directpred import DirectPred
from ssljax.methods.ijepa import IJEPA
from ssljax.methods.jigsaw import Jigsaw
from ssljax.methods.mae import MAE
from ssljax.methods.mocov2 import MoCoV2
from ssljax.methods.mocov3 import MoCoV3
from ssljax.methods.nnclr import NNCLR
from ssljax.methods.rotnet import RotNet
from ssljax.methods.simclr import SimCLR
from ssljax.methods.simsiam import SimSiam
from ssljax.methods.supcon import SupCon
from ssljax.methods.swav import SwAV
from ssljax.methods.target import EMATarget
from ssljax.methods.vicreg import VICReg
from ssljax.registry import Registry

METHODS: Registry[type[Method]] = Registry("method", key="method")
for _cls in (SimCLR, MoCoV2, MoCoV3, BYOL, SimSiam, BarlowTwins, VICReg, DINO, DirectPred,
             SwAV, NNCLR, DCL, DCLW, SupCon, RotNet, AutoEncoder, ContextEncoder, Jigsaw,
             ContextPrediction, CPC, Colorization, MAE, IJEPA, DINOv2):
    METHODS.register(_cls.name, _cls)


def method_names() -> tuple[str, ...]:
    """Names accepted by `config.method`."""
    return METHODS.names()


def get_method(config: ml_collections.ConfigDict, num_classes: int) -> Method:
    """Builds the configured method, or raises a one-line `ConfigError`."""
    return METHODS.lookup(config.method)(config, num_classes)


__all__ = ["METHODS", "EMATarget", "Method", "SSLModel", "StepOutput", "get_method",
           "method_names"]
