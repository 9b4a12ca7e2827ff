"""Smoke runs of the benchmarks that the notes quote, with tiny settings: they must run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.program_utils import REPO, env_for

# step_time as on an accelerator machine, which has no TensorFlow: importing it fails
WITHOUT_TF = """
import runpy, sys
sys.modules["tensorflow"] = sys.modules["tensorflow_datasets"] = None
sys.argv = ["benchmarks/step_time.py", *sys.argv[1:]]
runpy.run_path("benchmarks/step_time.py", run_name="__main__")
"""


@pytest.mark.slow
def test_step_time_prints_its_json_line_without_tensorflow():
    env = env_for(2)
    env["XLA_FLAGS"] += " --xla_cpu_enable_xprof_traceme"  # CPU operations in the trace
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_TF, "--config=configs/simclr_mnist.py",
         "--config.batch_size=16", "--steps=1", "--warmup=1", "--profile_top=3"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["devices"] == 2 and res["batch_size"] == 16 and res["views"] == 2
    assert res["median_step_s"] > 0 and res["encoder_only_step_s"] > 0
    # the ratio is of the unrounded times
    assert abs(res["overhead_ratio"] - res["median_step_s"] / res["encoder_only_step_s"]) < 2e-3
    top = res["profile_top"]
    assert len(top) == 3 and all(isinstance(n, str) and sec > 0 for n, sec in top), top
    assert top == sorted(top, key=lambda item: -item[1])


def test_methods_table_summary_averages_seeds_and_keeps_failures():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import methods_table  # noqa: PLC0415 - a script, not a package

    rows = [
        {"method": "simclr", "seed": 0, "linear_top1": 0.96, "knn_top1": 0.80, "steps": 9,
         "wall_s": 100.0},
        {"method": "simclr", "seed": 1, "linear_top1": 0.97, "knn_top1": 0.84, "steps": 9,
         "wall_s": 130.0},
        {"method": "dino", "seed": 0, "error": "ConfigError: bad", "wall_s": 2.0},
    ]
    simclr, dino = methods_table.summarize(rows)
    assert simclr["linear_top1"] == 0.965 and simclr["linear_top1_range"] == [0.96, 0.97]
    assert simclr["knn_top1"] == 0.82 and simclr["seeds"] == [0, 1] and simclr["failed"] == 0
    assert dino["failed"] == 1 and dino["error"] == "ConfigError: bad"
    table = methods_table.markdown([simclr, dino]).splitlines()
    assert table[2] == ("| simclr | 0.965 (0.960–0.970) | 0.820 (0.800–0.840) | 0,1 | 9 "
                        "| ≤ 2 min 10 s |")
    assert table[3].startswith("| dino | failed: ConfigError: bad |")
    # with the random-network baseline: a last column, its mean and range over the seeds
    rows[0]["random_linear_top1"], rows[1]["random_linear_top1"] = 0.86, 0.88
    simclr, dino = methods_table.summarize(rows)
    table = methods_table.markdown([simclr, dino]).splitlines()
    assert table[0].endswith("| wall time | random network, linear |")
    assert table[2].endswith("| ≤ 2 min 10 s | 0.870 (0.860–0.880) |")
    assert table[3].count("|") == table[0].count("|")


@pytest.mark.slow
def test_methods_table_runs_a_method_and_the_four_baselines_on_a_tiny_budget():
    """The benchmark as the README runs it, on the digits: one 3-step method run with its
    random network's probe, the raw-pixel baselines and the supervised one at its smallest
    budget (its 100 calibration steps are the run). Raw-pixel logistic regression, its C
    tuned on a held-out tenth, must give the README's 0.905 (0.892 with scikit-learn's
    default C=1)."""
    from tests.program_utils import FAST  # noqa: PLC0415

    proc = subprocess.run(
        [sys.executable, "benchmarks/methods_table.py", "--methods=simclr",
         "--baselines=all", "--budget_s=1", "--calibration_steps=100", "--",
         *FAST, "--config.max_steps=3", "--config.batch_size=64"],
        cwd=REPO, env=env_for(1), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    (row,) = out["summary"]
    assert row["method"] == "simclr" and row["failed"] == 0 and row["steps"] == 3
    assert 0.0 < row["linear_top1"] <= 1.0 and 0.0 < row["knn_top1"] <= 1.0
    # a random SmallCNN's pooled features already separate the digits well (0.87 measured)
    assert 0.5 < row["random_linear_top1"] <= 1.0, row
    assert "| random network, linear |" in proc.stdout
    logreg, knn, supervised = out["baselines"]
    assert logreg["method"] == "raw pixels: logistic regression"
    assert logreg["linear_top1"] == pytest.approx(0.905, abs=0.0015), logreg  # C=0.1 chosen
    assert knn["method"] == "raw pixels: kNN" and 0.8 < knn["one_nn_top1"] < 1.0
    assert 0.5 < knn["knn_top1"] < 1.0
    assert supervised["method"] == "supervised (same encoder)", supervised
    # 100 steps from scratch on every label: 0.738 measured (50 steps: 0.18, still warming up)
    assert supervised["steps"] == 100 and supervised["linear_top1"] > 0.6, supervised
    assert "| raw pixels: logistic regression |" in proc.stdout


def _cpu_parity():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import cpu_parity  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    return cpu_parity


def test_cpu_parity_ratios_are_to_the_same_step_and_its_fastest_pytorch_variant():
    cpu_parity = _cpu_parity()
    rows = [{"variant": "torch", "median_step_s": 5.0},
            {"variant": "torch_sgd2", "median_step_s": 4.0},
            {"variant": "jax_2dev", "median_step_s": 4.4},
            {"variant": "jax", "error": "boom"},
            {"variant": "demo_torch", "median_step_s": 0.2},
            {"variant": "demo_torch_compile", "median_step_s": 0.1},
            {"variant": "demo_jax_2dev", "median_step_s": 0.15},
            {"variant": "torch_fwd", "median_step_s": 2.0},
            {"variant": "jax_fwd", "median_step_s": 1.0}]
    s = cpu_parity.summarise(rows)
    assert s["jax_2dev"] == {"step_s": 4.4, "vs_torch": 0.88, "vs_best_torch": 1.1}
    assert s["demo_jax_2dev"] == {"step_s": 0.15, "vs_torch": 0.75, "vs_best_torch": 1.5}
    assert s["jax_fwd"]["vs_torch"] == 0.5 and s["jax"] == {"error": "boom"}
    assert set(cpu_parity.STANDARD) <= set(cpu_parity.VARIANTS)


def test_cpu_parity_rounds_take_medians_and_keep_each_rounds_ratio():
    cpu_parity = _cpu_parity()
    rows = [{"variant": v, "median_step_s": t, "round": r}
            for r, (a, b, c) in enumerate([(0.20, 0.30, 0.22), (0.25, 0.26, 0.24),
                                           (0.18, 0.20, 0.21)])
            for v, t in (("demo_torch", a), ("demo_torch_cl", b), ("demo_jax", c))]
    s = cpu_parity.summarise(rows)
    # medians over rounds: demo_torch 0.20, demo_torch_cl 0.26, demo_jax 0.22
    assert s["demo_jax"]["step_s"] == 0.22 and s["demo_jax"]["vs_best_torch"] == 1.1
    assert s["demo_jax"]["rounds_s"] == [0.22, 0.24, 0.21]
    # each round against that round's fastest PyTorch step (0.20, 0.25, 0.18)
    assert s["demo_jax"]["vs_best_torch_by_round"] == [1.1, 0.96, 1.167]
    assert s["demo_torch"]["vs_torch"] == 1.0


def test_cpu_parity_compares_with_pytorch_as_it_runs_and_with_its_tuned_malloc_apart():
    cpu_parity = _cpu_parity()
    rows = [{"variant": "demo_torch_cl", "median_step_s": 0.20},
            {"variant": "demo_torch_cl_malloc", "median_step_s": 0.16},
            {"variant": "demo_jax", "median_step_s": 0.18}]
    s = cpu_parity.summarise(rows)
    assert s["demo_jax"]["vs_best_torch"] == 0.9  # the default PyTorch step
    assert s["demo_jax"]["vs_best_torch_malloc"] == 1.125  # PyTorch with the same malloc


@pytest.mark.slow
def test_cpu_parity_runs_the_demo_step_in_both_libraries():
    pytest.importorskip("torch")
    env = env_for(1, optimized=True)
    proc = subprocess.run(
        [sys.executable, "benchmarks/cpu_parity.py", "--variants=demo_torch,demo_jax",
         # a warm-up step first: the timed step is then a steady one, like the profiled
         # ones (a first PyTorch step under load took 1.36 s against 0.35 s profiled)
         "--steps=2", "--warmup=1", "--profile"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["demo_batch_pairs"] == 256 and res["demo_image_size"] == 28
    for name in ("demo_torch", "demo_jax"):
        assert res["variants"][name]["step_s"] > 0, res
    assert res["variants"]["demo_torch"]["vs_torch"] == 1.0
    # --profile: operator time per category, adding up to about one step (profiler overhead
    # and host work aside).
    for name in ("demo_torch", "demo_jax"):
        prof = res["variants"][name]["profile"]
        assert prof["by_category_ms"] and prof["top_ops_ms"], prof
        total = sum(prof["by_category_ms"].values())
        assert 0.3 < total / (1000 * res["variants"][name]["step_s"]) < 3, (name, prof)
    assert "conv forward" in res["variants"]["demo_jax"]["profile"]["by_category_ms"]


def _cpu_profile():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import cpu_profile  # noqa: PLC0415

    return cpu_profile


@pytest.mark.parametrize("path", ["xla", "native"])
def test_cpu_profile_classifies_a_convolution_and_its_two_gradients(path):
    """XLA's convolutions, and the oneDNN calls of `ssljax.models.native` (custom calls)."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    from ssljax.models import conv, native  # noqa: PLC0415

    if path == "native" and not native.available():
        pytest.skip("the oneDNN kernels are not built (scripts/build_native.sh: no libdnnl-dev)")
    fn = jax.lax.conv_general_dilated if path == "xla" else conv.conv2d

    def loss(x, w):
        y = fn(x, w, (2, 2), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.sum(jnp.tanh(y) @ jnp.ones((8, 4)))

    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 8))
    kinds = _cpu_profile().classify_hlo(grad.lower(x, w).compile().as_text())
    found = set(kinds.values())
    assert {"conv forward", "conv input gradient", "conv kernel gradient"} <= found, found
    assert all(k.startswith(("conv ", "forward ", "backward ", "optimizer ")) for k in found)


def test_cpu_profile_shares_overlapping_time_equally():
    shares = _cpu_profile()._wall_shares([(0.0, 10e6, "a"), (5e6, 15e6, "b")],
                                         steps=1)
    assert shares == {"a": 7.5, "b": 7.5}  # ms: 5 alone + 2.5 of the 5 shared


@pytest.mark.slow
def test_conv_layers_times_the_demo_layers_three_ways_and_they_agree():
    from ssljax.models import native  # noqa: PLC0415

    if not native.available():
        pytest.skip("the oneDNN kernels are not built (scripts/build_native.sh: no libdnnl-dev)")
    proc = subprocess.run(
        [sys.executable, "benchmarks/conv_layers.py", "--model=demo", "--repeats=1"],
        env=env_for(1, optimized=True), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [row["shape"][3:5] for row in res["layers"]] == [[1, 32], [32, 64], [64, 128],
                                                            [128, 256]]
    for row in res["layers"]:
        assert row["max_rel_diff"] < 1e-5, row
        assert all(row[op] > 0 for op in ("forward_xla", "forward_onednn",
                                          "kernel_grad_ssljax", "kernel_grad_onednn")), row
    assert res["total_ms"]["forward_onednn"] > 0
