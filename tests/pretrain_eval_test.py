"""Which network the end-of-run evaluation and the exported encoder use (`eval.encoder`)."""

from __future__ import annotations

import types

import ml_collections
import pytest

from ssljax.errors import ConfigError
from ssljax.pretrain_eval import eval_encoder, eval_variables


def _config(encoder: str) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"eval": {"encoder": encoder}})


def test_eval_encoder_defaults_to_online_and_checks_the_method():
    byol = types.SimpleNamespace(name="byol", has_target=True)
    simclr = types.SimpleNamespace(name="simclr", has_target=False)
    assert eval_encoder(_config(""), byol) == "online"
    assert eval_encoder(_config("online"), simclr) == "online"
    assert eval_encoder(_config("target"), byol) == "target"
    with pytest.raises(ConfigError, match="simclr has no EMA target"):
        eval_encoder(_config("target"), simclr)
    with pytest.raises(ConfigError, match="must be one of online, target"):
        eval_encoder(_config("ema"), byol)


def test_target_subtrees_replace_the_online_ones():
    """BYOL's target has no predictor: the online one is kept, the features ignore it."""
    state = types.SimpleNamespace(
        params={"encoder": "online_enc", "projector": "online_proj", "predictor": "pred"},
        batch_stats={"encoder": "online_bn", "predictor": "pred_bn"},
        target_params={"encoder": "ema_enc", "projector": "ema_proj"},
        target_batch_stats={"encoder": "ema_bn"},
    )
    assert eval_variables(state, "online") == (state.params, state.batch_stats)
    params, stats = eval_variables(state, "target")
    assert params == {"encoder": "ema_enc", "projector": "ema_proj", "predictor": "pred"}
    assert stats == {"encoder": "ema_bn", "predictor": "pred_bn"}


def test_vit_features_change_the_evaluated_tokens_of_vits_only():
    from ssljax import models  # noqa: PLC0415
    from ssljax.pretrain_eval import eval_module  # noqa: PLC0415

    def config(choice, name):
        return ml_collections.ConfigDict({"eval": {"encoder": "", "vit_features": choice},
                                          "encoder": {"name": name}})

    vit = types.SimpleNamespace(name="dino", has_target=True, eval_encoder_attrs=dict,
                                model=types.SimpleNamespace(
                                    encoder=models.get_encoder("vit_small")))
    cnn = types.SimpleNamespace(name="dino", has_target=True, eval_encoder_attrs=dict,
                                model=types.SimpleNamespace(
                                    encoder=models.get_encoder("small_cnn")))
    assert eval_module(config("", "vit_small"), vit) is vit.model.encoder
    assert eval_module(config("cls_last4", "vit_small"), vit).feature_dim == 4 * 384
    with pytest.raises(ConfigError, match="applies to ViT encoders, not small_cnn"):
        eval_encoder(config("cls_last4", "small_cnn"), cnn)  # checked before any training
    with pytest.raises(ConfigError, match="must be one of cls, cls_last4, cls_avgpool"):
        eval_module(config("patches", "vit_small"), vit)
