"""Largest differences between `ssljax.losses` and the float64 NumPy references.

Runs every loss (float32, jitted) on random inputs of a few shapes and scales and compares it
with the float64 references of `tests/np_reference.py`, written from the papers' formulas;
gradients (`jax.grad`, float32) are compared with central finite differences of the
references on tiny inputs. Prints one line of JSON:
`{"nt_xent": <max |value - reference|>, "nt_xent_rel": <max relative difference>,
"nt_xent_grad": <max |grad - reference grad|>, ...}`.

    python benchmarks/loss_reference_diffs.py
"""

from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import jax  # noqa: E402
import np_reference as ref  # noqa: E402
import numpy as np  # noqa: E402

from ssljax import losses as L  # noqa: E402

SHAPES = [(8, 16), (5, 3), (16, 4)]
SCALES = [1e-3, 1.0, 10.0]
SEEDS = range(3)
K_QUEUE, S_CROPS, T_CROPS = 12, 4, 2

# name -> (JAX fn, reference fn, input builder(rng, n, d, scale), gradient argnums)
CASES = {
    "nt_xent": (
        lambda a, b: L.nt_xent(a, b, temperature=0.1),
        lambda a, b: ref.nt_xent(a, b, 0.1),
        "pair",
        (0, 1),
    ),
    "nt_xent_blockwise": (
        lambda a, b: L.nt_xent(a, b, temperature=0.1, block_size=3),
        lambda a, b: ref.nt_xent(a, b, 0.1),
        "pair",
        (0, 1),
    ),
    "info_nce": (
        lambda q, k, queue: L.info_nce(q, k, queue, temperature=0.2),
        lambda q, k, queue: ref.info_nce(q, k, queue, 0.2),
        "queue",
        (0, 1, 2),
    ),
    "moco_v3": (
        lambda q, k: L.moco_v3(q, k, temperature=0.2),
        lambda q, k: ref.moco_v3(q, k, 0.2),
        "pair",
        (0, 1),
    ),
    "byol": (L.byol, ref.byol, "pair", (0, 1)),
    "simsiam": (L.simsiam, ref.simsiam, "pair", (0, 1)),
    "barlow_twins": (L.barlow_twins, ref.barlow_twins, "pair", (0, 1)),
    "vicreg": (L.vicreg, ref.vicreg, "pair", (0, 1)),
    "dino": (
        L.dino,
        lambda s, t, c: ref.dino(list(s), list(t), c),
        "crops",
        (0,),
    ),
    "dino_center_update": (
        L.dino_center_update,
        lambda c, t: ref.dino_center_update(c, list(t)),
        "center",
        (),
    ),
}


def _inputs(kind, rng, n, d, scale):
    normal = lambda *shape: (rng.standard_normal(shape) * scale).astype(np.float32)
    if kind == "queue":
        return normal(n, d), normal(n, d), normal(K_QUEUE, d)
    if kind == "crops":
        return normal(S_CROPS, n, d), normal(T_CROPS, n, d), normal(d)
    if kind == "center":
        return normal(d), normal(T_CROPS, n, d)
    return normal(n, d), normal(n, d)


def main():
    out = {}
    for name, (fn, ref_fn, kind, argnums) in CASES.items():
        jitted = jax.jit(fn)
        diff = rel = 0.0
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            for n, d in SHAPES:
                for scale in SCALES:
                    args = _inputs(kind, rng, n, d, scale)
                    got = np.asarray(jitted(*args), np.float64)
                    want = ref_fn(*(a.astype(np.float64) for a in args))
                    err = np.abs(got - want)
                    diff = max(diff, float(np.max(err)))
                    rel = max(rel, float(np.max(err / np.maximum(np.abs(want), 1e-30))))
        out[name] = diff
        out[f"{name}_rel"] = rel
        if not argnums:
            continue
        grad_fn = jax.jit(jax.grad(fn, argnums=argnums))
        gdiff = 0.0
        for seed in SEEDS:
            # Scale 0.5 keeps VICReg's variance hinge away from its kink.
            args = _inputs(kind, np.random.default_rng(100 + seed), 3, 4, 0.5)
            args64 = [a.astype(np.float64) for a in args]
            for pos, g in zip(argnums, grad_fn(*args), strict=True):

                def f(x, pos=pos, args64=args64, ref_fn=ref_fn):
                    call = list(args64)
                    call[pos] = x
                    return ref_fn(*call)

                gdiff = max(gdiff, float(np.max(np.abs(g - ref.numerical_grad(f, args64[pos])))))
        out[f"{name}_grad"] = gdiff
    print(json.dumps({k: float(f"{v:.3g}") for k, v in out.items()}))


if __name__ == "__main__":
    main()
