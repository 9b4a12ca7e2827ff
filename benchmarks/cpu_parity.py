"""CPU step parity: ssljax (JAX/XLA:CPU) vs an equivalent PyTorch CPU SimCLR step.

    python benchmarks/cpu_parity.py                 # the standard comparison (STANDARD)
    python benchmarks/cpu_parity.py --variants=all  # every variant (an hour on 2 cores)
    python benchmarks/cpu_parity.py --steps=3 --variants=torch,jax   # a quick look
    python benchmarks/cpu_parity.py --rounds=3      # 3 rounds, alternating order: medians

Needs PyTorch (CPU build): `pip install torch --index-url https://download.pytorch.org/whl/cpu`
(or a local wheel). The step: SimCLR, CIFAR-stem ResNet-18 (3×3 stem, no max-pool), a
2-layer projection head 512 → 512 (BN, ReLU) → 128, both views as ONE batch of 2B
images through the network (BatchNorm over 2B, as the authors' code), NT-Xent at
temperature 0.5, LARS with weight decay 1e-6 (BN and biases excluded); B = 128 pairs of
32×32×3 images, float32.

The demo step (`demo_*` variants): `configs/simclr_mnist.py` as the README's first command
runs it — SmallCNN (3×3 convs 32/64/128/256, strides 2/2/1/2, BN, ReLU, mean pool),
head 256 → 256 (BN, ReLU) → 64, NT-Xent at 0.2, AdamW (lr 2e-3, wd 1e-4, BN and biases
excluded), B = 256 pairs of 28×28×1 digits.

The standard PyTorch steps a reader would write or find in a peer library: `torch_sgd2`
(the two views through the network as two forward passes, BatchNorm per view, as lightly's
and solo-learn's training steps do; `torch.optim.SGD(momentum=0.9, weight_decay=5e-4)`),
with channels-last (`_cl`) and `torch.compile` (`_compile`, inductor; needs a C++
compiler); `torch.set_num_threads(os.cpu_count())` in every PyTorch variant. The summary
gives each variant's ratio to the fastest PyTorch variant of its model (`vs_best_torch`).

Every variant runs in its own subprocess, one after another, so that none competes
for the cores and each XLA flag set is read before jax is imported:

- `torch`, `torch_cl`: the PyTorch step on pre-augmented views (NCHW; channels-last).
- `*_malloc` (PyTorch): the same step with glibc set as `ssljax.host_memory` sets it for
  ssljax (one arena, no `mmap` for large blocks, no trimming; here through `MALLOC_*`
  environment variables): the peer with the same reuse of freed memory.
- `jax_sgd_no_keep`, `demo_jax_no_keep`: ssljax without that reuse (`SSLJAX_KEEP_MEMORY=0`):
  every step's scratch buffer is mapped and faulted in afresh.
- `jax`: the same step in ssljax on pre-augmented views — `SimCLR.loss` (the library's
  model, `ssljax.losses.nt_xent`) + `ssljax.optim.lars` inside `jax.jit(jax.shard_map)`
  on one device; `jax_full`: ssljax's real pretraining step (`engine.make_train_step`:
  on-device augmentation of the two views, loss, LARS, online probe, NaN guard) on uint8
  images; `jax_bf16`: `jax` with bfloat16 compute (f32 parameters).
- `jax_2dev`, `jax_full_2dev`: `jax`, `jax_full` with the host split into 2 XLA devices
  (`--xla_force_host_platform_device_count=2`), 64 pairs per device, BatchNorm statistics
  and NT-Xent negatives still over the whole batch (psum / all-gather): the two
  devices' programs run concurrently, one per core.
- `torch_fwd`, `jax_fwd`, `jax_fwd_2dev`: the forward pass alone (2B images, BatchNorm
  in training mode, no gradients), to split the gap into forward and backward.
- `jax_taps`, `jax_taps_2dev`, `jax_taps_fwd`: `jax`, `jax_2dev`, `jax_fwd` on the
  previous CPU path (`SSLJAX_CPU_CONV=taps`): convolutions on YNNPACK (XLA's default)
  and the per-tap kernel gradient for every layer.
- `jax_xla_conv`: `jax` with XLA's own flags and convolution gradients
  (`SSLJAX_CPU_CONV=xla`), i.e. without anything from `ssljax.models.conv`.
- `jax_onednn`, `jax_xnn`, `jax_eigen_dots`, `jax_fastmath`, ...: `jax` under an XLA:CPU
  flag set (see VARIANTS), to find what closes the gap to oneDNN.

Prints one line per variant while it runs (stderr) and, last, ONE line of JSON with the
median step time of every variant and its ratio to the PyTorch step.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_profile  # noqa: E402  (benchmarks/cpu_profile.py)

REPO = Path(__file__).resolve().parents[1]
BATCH, SIZE, DIM, HIDDEN, TEMP, WD, LR = 128, 32, 128, 512, 0.5, 1e-6, 0.3
SGD_LR, SGD_WD = 0.06, 5e-4  # the torch_sgd2 / jax_sgd step: SGD, momentum 0.9
# The demo step: configs/simclr_mnist.py.
DEMO = {"batch": 256, "size": 28, "channels": 1, "hidden": 256, "dim": 64, "temp": 0.2,
        "lr": 2e-3, "wd": 1e-4, "stages": ((32, 2), (64, 2), (128, 1), (256, 2))}

# name -> (worker, XLA_FLAGS additions, extra worker args); an "SSLJAX_...=..." or
# "MALLOC_...=..." in the flags column is set as that environment variable instead (see
# ssljax.models.conv, ssljax.host_memory).
ENV_PREFIXES = ("SSLJAX_", "MALLOC_")
# glibc's settings that ssljax.host_memory makes with mallopt, as environment variables for
# the PyTorch variants (`*_malloc`): the same reuse of freed memory for the peer.
MALLOC = "MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647"
VARIANTS = {
    "torch": ("torch", "", []),
    "torch_cl": ("torch", "", ["--channels_last"]),
    "jax": ("jax", "", []),
    "torch_fwd": ("torch", "", ["--forward"]),
    "jax_fwd": ("jax", "", ["--forward"]),
    "jax_fwd_2dev": ("jax", "--xla_force_host_platform_device_count=2",
                     ["--devices=2", "--forward"]),
    "jax_xla_conv": ("jax", "SSLJAX_CPU_CONV=xla", []),
    "jax_eigen_dots": ("jax", "--xla_cpu_experimental_ynn_fusion_type=individual_convolution",
                       []),
    "jax_full": ("jax", "", ["--full"]),
    "jax_bf16": ("jax", "", ["--bf16"]),
    "jax_2dev": ("jax", "--xla_force_host_platform_device_count=2", ["--devices=2"]),
    "jax_4dev": ("jax", "--xla_force_host_platform_device_count=4", ["--devices=4"]),
    "jax_bf16_2dev": ("jax", "--xla_force_host_platform_device_count=2",
                      ["--devices=2", "--bf16"]),
    "jax_full_2dev": ("jax", "--xla_force_host_platform_device_count=2",
                      ["--devices=2", "--full"]),
    # without the oneDNN kernel gradient (ssljax.models.native): the per-tap products
    "jax_no_native": ("jax", "SSLJAX_NATIVE_LIB=", []),
    "demo_jax_no_native": ("jax", "SSLJAX_NATIVE_LIB=", ["--model=small_cnn"]),
    "jax_taps": ("jax", "SSLJAX_CPU_CONV=taps", []),
    "jax_taps_2dev": ("jax", "SSLJAX_CPU_CONV=taps --xla_force_host_platform_device_count=2",
                      ["--devices=2"]),
    "jax_taps_fwd": ("jax", "SSLJAX_CPU_CONV=taps", ["--forward"]),
    "jax_onednn": ("jax", "--xla_cpu_use_onednn=true", []),
    "jax_onednn_cc": ("jax", "--xla_cpu_experimental_onednn_custom_call=true", []),
    "jax_xnnpack": ("jax", "--xla_cpu_use_xnnpack=true", []),
    "jax_fastmath": ("jax", "--xla_cpu_enable_fast_math=true", []),
    "jax_no_eigen_mt": ("jax", "--xla_cpu_multi_thread_eigen=false", []),
    # The standard PyTorch step (two passes, SGD) and ssljax with the same optimizer.
    "torch_sgd2": ("torch", "", ["--opt=sgd", "--two_pass"]),
    "torch_sgd2_cl": ("torch", "", ["--opt=sgd", "--two_pass", "--channels_last"]),
    "torch_sgd2_compile": ("torch", "", ["--opt=sgd", "--two_pass", "--compile"]),
    "torch_sgd2_cl_malloc": ("torch", MALLOC, ["--opt=sgd", "--two_pass", "--channels_last"]),
    "torch_sgd": ("torch", "", ["--opt=sgd"]),
    "jax_sgd": ("jax", "", ["--opt=sgd"]),
    "jax_sgd_2dev": ("jax", "--xla_force_host_platform_device_count=2",
                     ["--devices=2", "--opt=sgd"]),
    # The demo step (configs/simclr_mnist.py).
    "demo_torch": ("torch", "", ["--model=small_cnn"]),
    "demo_torch_cl": ("torch", "", ["--model=small_cnn", "--channels_last"]),
    "demo_torch_compile": ("torch", "", ["--model=small_cnn", "--compile"]),
    "demo_torch_2pass": ("torch", "", ["--model=small_cnn", "--two_pass"]),
    "demo_torch_cl_malloc": ("torch", MALLOC, ["--model=small_cnn", "--channels_last"]),
    "demo_torch_compile_malloc": ("torch", MALLOC, ["--model=small_cnn", "--compile"]),
    "demo_jax": ("jax", "", ["--model=small_cnn"]),
    "demo_jax_2dev": ("jax", "--xla_force_host_platform_device_count=2",
                      ["--model=small_cnn", "--devices=2"]),
    "demo_jax_full": ("jax", "", ["--model=small_cnn", "--full"]),
    "demo_jax_full_2dev": ("jax", "--xla_force_host_platform_device_count=2",
                           ["--model=small_cnn", "--devices=2", "--full"]),
    "demo_jax_xla_conv": ("jax", "SSLJAX_CPU_CONV=xla", ["--model=small_cnn"]),
    # without ssljax.host_memory's reuse of freed memory (every step faults its buffer in)
    "jax_sgd_no_keep": ("jax", "SSLJAX_KEEP_MEMORY=0", ["--opt=sgd"]),
    "demo_jax_no_keep": ("jax", "SSLJAX_KEEP_MEMORY=0", ["--model=small_cnn"]),
}
# What `python benchmarks/cpu_parity.py` runs: both models, the standard PyTorch steps and
# ssljax's default and split-CPU steps.
STANDARD = ("torch", "torch_cl", "torch_sgd2", "torch_sgd2_cl", "torch_sgd2_compile",
            "torch_sgd2_cl_malloc", "jax", "jax_2dev", "jax_sgd", "jax_sgd_2dev",
            "jax_full_2dev", "demo_torch", "demo_torch_cl", "demo_torch_compile",
            "demo_torch_2pass", "demo_torch_cl_malloc", "demo_torch_compile_malloc",
            "demo_jax", "demo_jax_2dev", "demo_jax_full", "demo_jax_full_2dev")


def _median_time(step, steps: int, warmup: int) -> tuple[float, float]:
    """(median seconds, first-call seconds) of `step()`, which must block until done."""
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), first


# --------------------------------------------------------------------------- PyTorch


def torch_worker(args) -> dict:
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    demo = args.model == "small_cnn"
    batch, size, channels = (DEMO["batch"], DEMO["size"], DEMO["channels"]) if demo else (
        BATCH, SIZE, 3)
    hidden, dim, temp = (DEMO["hidden"], DEMO["dim"], DEMO["temp"]) if demo else (
        HIDDEN, DIM, TEMP)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            y = F.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return F.relu(y + (x if self.short is None else self.short(x)))

    def resnet18_cifar():
        layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
        cin = 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        return nn.Sequential(*layers), cin

    def small_cnn():  # ssljax.models.SmallCNN
        layers, cin = [], channels
        for cout, stride in DEMO["stages"]:
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU()]
            cin = cout
        return nn.Sequential(*layers), cin

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, width = small_cnn() if demo else resnet18_cifar()
            self.head = nn.Sequential(
                nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
                nn.Linear(hidden, dim),
            )

        def forward(self, x):
            h = self.encoder(x).mean(dim=(2, 3))
            return self.head(h)

    def nt_xent(za, zb):
        z = F.normalize(torch.cat([za, zb]), dim=1)
        n = za.shape[0]
        logits = z @ z.T / temp
        logits = logits - torch.eye(2 * n) * 1e9
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
        return F.cross_entropy(logits, targets)

    model = Net()
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    params = list(model.parameters())
    decayed = [p.ndim > 1 for p in params]  # BN scales/shifts and biases are excluded
    momenta = [torch.zeros_like(p) for p in params]
    opt = args.opt or ("adamw" if demo else "lars")
    groups = [{"params": [p for p, d in zip(params, decayed, strict=True) if d]},
              {"params": [p for p, d in zip(params, decayed, strict=True) if not d],
               "weight_decay": 0.0}]
    if opt == "sgd":  # torch.optim.SGD(model.parameters()): every parameter decayed
        optimizer = torch.optim.SGD(params, lr=SGD_LR, momentum=0.9, weight_decay=SGD_WD)
    elif opt == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=DEMO["lr"], weight_decay=DEMO["wd"])
    else:
        optimizer = None

    @torch.no_grad()
    def lars_update():
        for p, m, dec in zip(params, momenta, decayed, strict=True):
            g = p.grad
            if dec:
                g = g + WD * p
                w_norm, g_norm = p.norm(), g.norm()
                ratio = torch.where((w_norm > 0) & (g_norm > 0), 1e-3 * w_norm / g_norm, 1.0)
                g = g * ratio
            m.mul_(0.9).add_(g)
            p.sub_(LR * m)

    gen = torch.Generator().manual_seed(0)
    views = torch.rand(2 * batch, channels, size, size, generator=gen).contiguous(
        memory_format=fmt)
    forward = torch.compile(model) if args.compile else model

    if args.forward:
        def step():
            with torch.no_grad():
                return forward(views)[0, 0].item()

    else:
        def step():
            model.zero_grad(set_to_none=True)
            if args.two_pass:  # BatchNorm statistics per view
                za, zb = forward(views[:batch]), forward(views[batch:])
            else:  # one batch of 2B: BatchNorm over both views
                z = forward(views)
                za, zb = z[:batch], z[batch:]
            loss = nt_xent(za, zb)
            loss.backward()
            if optimizer is None:
                lars_update()
            else:
                optimizer.step()
            return loss.item()

    med, first = _median_time(step, args.steps, args.warmup)
    out = {"median_step_s": med, "first_step_s": first, "torch": torch.__version__,
           "threads": torch.get_num_threads()}
    if args.profile:
        out["profile"] = cpu_profile.profile_torch(step)
    return out


# --------------------------------------------------------------------------- JAX


def jax_worker(args) -> dict:
    sys.path.insert(0, str(REPO))
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.sharding import PartitionSpec as P

    from ssljax import config_schema, engine, host_memory, methods, optim, parallel, training
    from ssljax.config_base import pretrain_base
    from ssljax.models import conv

    host_memory.keep_freed_memory()  # as the ssljax programs do (ssljax.cli.configure_cpu)
    conv.set_cpu_flags()  # as the ssljax programs do, unless SSLJAX_CPU_CONV says otherwise

    demo = args.model == "small_cnn"
    if demo:  # the README demo's recipe, as configs/simclr_mnist.py writes it
        spec = importlib.util.spec_from_file_location("demo", REPO / "configs/simclr_mnist.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        c = module.get_config()
        c.encoder.dtype = "bfloat16" if args.bf16 else "float32"
        batch, size, channels = DEMO["batch"], DEMO["size"], DEMO["channels"]
        assert (c.batch_size, c.head.hidden_dims[0], c.head.out_dim) == (
            batch, DEMO["hidden"], DEMO["dim"]), "configs/simclr_mnist.py changed: update DEMO"
    else:
        batch, size, channels = BATCH, SIZE, 3
        c = pretrain_base("simclr")
        c.batch_size = BATCH
        c.dataset.name, c.dataset.image_size = "cifar10", SIZE
        c.augment.preset, c.augment.strength, c.augment.blur = "simclr", 0.5, False
        c.encoder.name, c.encoder.stem = "resnet18", "cifar"
        c.encoder.dtype = "bfloat16" if args.bf16 else "float32"
        c.head.hidden_dims, c.head.out_dim, c.head.use_bn = (HIDDEN,), DIM, True
        c.loss.temperature = TEMP
        c.optimizer.name, c.optimizer.base_lr, c.optimizer.weight_decay = "lars", LR, WD
        if args.opt == "sgd":  # the standard step's optimizer, every parameter decayed
            c.optimizer.name, c.optimizer.base_lr = "sgd", SGD_LR
            c.optimizer.weight_decay, c.optimizer.exclude_bn_and_bias = SGD_WD, False
        c.optimizer.lr_scaling, c.optimizer.warmup_epochs = "none", 0

    c = config_schema.resolve(c, warn=False)[0]
    mesh = parallel.make_mesh(args.devices)
    method = methods.get_method(c, num_classes=10)
    method.bind_schedule(1000, 100)
    specs = method.views(size)
    schedule = training.learning_rate(c.optimizer, c.batch_size, 100, 1000)
    if args.full or c.optimizer.name != "lars":
        tx = training.optimizer(c.optimizer, schedule)
    else:
        tx = optim.lars(LR, weight_decay=WD)
    state = engine.create_state(method, c, mesh, (size, size, channels), tx)
    rng = np.random.default_rng(0)
    shape = (batch, size, size, channels)

    if args.forward:
        def forward(params, batch_stats, view_a, view_b):
            out, _ = method.apply(params, batch_stats, jnp.concatenate([view_a, view_b]),
                                  train=True)
            return out["proj"]

        fn = parallel.shard_step(forward, mesh, in_specs=(P(), P(), P("data"), P("data")),
                                 out_specs=P("data"))
        va = jnp.asarray(rng.random(shape, np.float32))
        vb = jnp.asarray(rng.random(shape, np.float32))

        def step():
            return float(fn(state.params, state.batch_stats, va, vb)[0, 0])

        def hlo():
            return fn.lower(state.params, state.batch_stats, va, vb).compile().as_text()
    elif args.full:
        step_fn = engine.make_train_step(method, tx, mesh, specs, c, schedule)
        batch = {
            "image": jax.device_put(rng.integers(0, 256, shape, np.uint8)),
            "label": jax.device_put(rng.integers(0, 10, (batch,), np.int32)),
        }
        holder = {"state": state}

        def step():
            holder["state"], m = step_fn(holder["state"], batch)
            return float(m["loss"])

        def hlo():
            return step_fn.lower(holder["state"], batch).compile().as_text()
    else:
        def model_step(params, batch_stats, opt_state, view_a, view_b):
            s = state.replace(batch_stats=batch_stats)
            (loss, out), grads = jax.value_and_grad(method.loss, has_aux=True)(
                params, s, (view_a, view_b), jax.random.PRNGKey(0)
            )
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), parallel.pmean_tree(out.batch_stats),
                    opt_state, loss)

        fn = parallel.shard_step(
            model_step, mesh, in_specs=(P(), P(), P(), P("data"), P("data")),
            out_specs=(P(), P(), P(), P()), donate_argnums=(0, 1, 2),
        )
        va = jnp.asarray(rng.random(shape, np.float32))
        vb = jnp.asarray(rng.random(shape, np.float32))
        holder = {"p": state.params, "bs": state.batch_stats, "o": state.opt_state}

        def step():
            holder["p"], holder["bs"], holder["o"], loss = fn(
                holder["p"], holder["bs"], holder["o"], va, vb
            )
            return float(loss)

        def hlo():
            return fn.lower(holder["p"], holder["bs"], holder["o"], va, vb).compile().as_text()

    med, first = _median_time(step, args.steps, args.warmup)
    out = {"median_step_s": med, "first_step_s": first, "jax": jax.__version__,
           "xla_flags": os.environ.get("XLA_FLAGS", "")}
    if args.profile:
        out["profile"] = cpu_profile.profile_jax(step, hlo())
    return out


# --------------------------------------------------------------------------- driver


def run_variant(name: str, steps: int, warmup: int, profile: bool = False) -> dict:
    worker, flags, extra = VARIANTS[name]
    env = dict(os.environ)
    for setting in flags.split():
        if setting.startswith(ENV_PREFIXES):
            key, value = setting.split("=", 1)
            env[key] = value
    flags = " ".join(f for f in flags.split() if not f.startswith(ENV_PREFIXES))
    env["XLA_FLAGS"] = " ".join(f for f in (env.get("XLA_FLAGS", ""), flags) if f)
    env["JAX_PLATFORMS"] = "cpu"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cmd = [sys.executable, __file__, f"--worker={worker}", f"--steps={steps}",
           f"--warmup={warmup}", *extra, *(["--profile"] if profile else [])]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"variant": name, "error": tail[:300]}
    return {"variant": name, **json.loads(proc.stdout.strip().splitlines()[-1])}


def family(name: str) -> str:
    """Which step a variant times: "demo", "forward" (ResNet-18) or "resnet18"."""
    if name.startswith("demo_"):
        return "demo"
    return "forward" if "fwd" in name else "resnet18"


def summarise(rows: list[dict]) -> dict[str, dict]:
    """{variant: step_s, vs_torch (the same step's `torch` baseline: LARS or AdamW, one
    batch of 2B, NCHW), vs_best_torch (the fastest PyTorch variant of that step run, as
    PyTorch runs by default: the `*_malloc` variants left out), and where a `*_malloc`
    variant ran, vs_best_torch_malloc (the fastest of all PyTorch variants)}.

    With several rounds (rows carry a "round"; `--rounds`), step_s is the median of the
    variant's round medians and the ratios are of those; "rounds_s" and
    "vs_best_torch_by_round" (each round's ratio to that round's fastest PyTorch step)
    show the spread."""
    base = {"resnet18": "torch", "forward": "torch_fwd", "demo": "demo_torch"}
    by_round: dict[int, dict[str, float]] = {}
    errors = {}
    for r in rows:
        if "median_step_s" in r:
            by_round.setdefault(r.get("round", 0), {})[r["variant"]] = r["median_step_s"]
        else:
            errors[r["variant"]] = r["error"]

    def fastest_torch(times: dict[str, float], malloc: bool = False) -> dict[str, float]:
        best: dict[str, float] = {}
        for name, t in times.items():
            if VARIANTS[name][0] == "torch" and (malloc or not name.endswith("_malloc")):
                best[family(name)] = min(t, best.get(family(name), t))
        return best

    def ratio(t: float, b: float | None) -> float | None:
        return round(t / b, 3) if b else None

    names = list(dict.fromkeys(r["variant"] for r in rows))
    times = {n: statistics.median(rt[n] for rt in by_round.values() if n in rt)
             for n in names if any(n in rt for rt in by_round.values())}
    best, best_malloc = fastest_torch(times), fastest_torch(times, malloc=True)
    tuned = any(n.endswith("_malloc") for n in times)
    summary = {}
    for name in names:
        if name not in times:
            summary[name] = {"error": errors[name]}
            continue
        fam = family(name)
        summary[name] = {
            "step_s": round(times[name], 4),
            "vs_torch": ratio(times[name], times.get(base[fam])),
            "vs_best_torch": ratio(times[name], best.get(fam)),
        }
        if tuned:
            summary[name]["vs_best_torch_malloc"] = ratio(times[name], best_malloc.get(fam))
        if len(by_round) > 1:
            per = [(rt[name], fastest_torch(rt).get(fam), fastest_torch(rt, True).get(fam))
                   for _, rt in sorted(by_round.items()) if name in rt]
            summary[name]["rounds_s"] = [round(t, 4) for t, _, _ in per]
            summary[name]["vs_best_torch_by_round"] = [ratio(t, b) for t, b, _ in per]
            if tuned:
                summary[name]["vs_best_torch_malloc_by_round"] = [ratio(t, b)
                                                                  for t, _, b in per]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(STANDARD),
                        help="comma-separated VARIANTS names, or 'all'")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the variants this many times, in alternating order (the "
                             "machine's speed drifts over minutes): medians over rounds")
    parser.add_argument("--worker", choices=("torch", "jax"), help=argparse.SUPPRESS)
    parser.add_argument("--channels_last", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--forward", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="resnet18", choices=("resnet18", "small_cnn"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--opt", default="", choices=("", "lars", "sgd", "adamw"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--two_pass", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true",
                        help="also profile 3 steps of each variant op by op "
                             "(benchmarks/cpu_profile.py) and print the time per category")
    args = parser.parse_args()
    if args.worker:
        result = (torch_worker if args.worker == "torch" else jax_worker)(args)
        print(json.dumps(result))
        return 0

    names = list(VARIANTS) if args.variants == "all" else [
        v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if args.rounds < 1:
        parser.error(f"--rounds={args.rounds}: give 1 or more")
    rows = []
    for rnd in range(args.rounds):
        for name in names if rnd % 2 == 0 else names[::-1]:
            # the op-by-op profile once, in the first round
            row = run_variant(name, args.steps, args.warmup, args.profile and rnd == 0)
            if args.rounds > 1:
                row["round"] = rnd
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    summary = summarise(rows)
    for row in rows:
        if "profile" in row and row["variant"] in summary:
            summary[row["variant"]]["profile"] = row["profile"]
    print(json.dumps({
        "benchmark": "cpu_parity", "batch_pairs": BATCH, "image_size": SIZE,
        "demo_batch_pairs": DEMO["batch"], "demo_image_size": DEMO["size"],
        "cpus": os.cpu_count(), "python": platform.python_version(), "rounds": args.rounds,
        "variants": summary,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
