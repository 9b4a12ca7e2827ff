"""Host sharding of ssljax.data: fake processes, 8 fake CPU devices, and two real processes.

The session fakes 8 CPU devices (tests/conftest.py sets XLA_FLAGS before jax is
imported); the two-process test starts its own interpreters with 2 devices each.
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ssljax.data as data
from ssljax.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def take(it, n):
    out = [next(it) for _ in range(n)]
    it.close()
    return out


def digits_batches(global_batch_size, process_index, process_count, n, start_step=0, seed=11):
    it = data.make_train_iterator(
        dict(name="digits"),
        global_batch_size=global_batch_size,
        seed=seed,
        start_step=start_step,
        process_index=process_index,
        process_count=process_count,
    )
    return take(it, n)


def test_global_batch_is_independent_of_process_count():
    # 1438 train digits, B = 96: 14 steps per epoch; 20 steps cross an epoch boundary.
    single = digits_batches(96, 0, 1, 20)
    for count in (2, 4):
        shards = [digits_batches(96, p, count, 20) for p in range(count)]
        for s in range(20):
            for key in ("image", "label", "index"):
                joined = np.concatenate([shards[p][s][key] for p in range(count)])
                np.testing.assert_array_equal(joined, single[s][key])
    resumed = [digits_batches(96, p, 2, 3, start_step=13) for p in range(2)]
    for s in range(3):
        joined = np.concatenate([resumed[p][s]["index"] for p in range(2)])
        np.testing.assert_array_equal(joined, single[13 + s]["index"])


def test_two_hosts_get_disjoint_shards_covering_an_epoch():
    spe = data.steps_per_epoch(dict(name="digits"), 64)
    seen = [np.concatenate([b["index"] for b in digits_batches(64, p, 2, spe)]) for p in range(2)]
    assert not set(seen[0].tolist()) & set(seen[1].tolist())
    union = np.concatenate(seen)
    assert len(np.unique(union)) == spe * 64 == len(union)  # all but the dropped remainder


def test_eval_shards_cover_each_example_exactly_once():
    n = data.load_split(dict(name="digits"), "test")[0].shape[0]  # 359
    cfg = dict(name="digits")
    batches = [list(data.make_eval_iterator(cfg, "test", 40, p, 4)) for p in range(4)]
    assert len({len(b) for b in batches}) == 1  # same number of batches on every process
    index = np.concatenate([b["index"][b["mask"]] for bs in batches for b in bs])
    np.testing.assert_array_equal(np.sort(index), np.arange(n))
    step0 = np.concatenate([batches[p][0]["index"] for p in range(4)])
    np.testing.assert_array_equal(step0, np.arange(40))  # global order within a batch


@pytest.mark.slow  # imports TensorFlow
def test_tfds_two_hosts_disjoint_and_covering():
    tfds = pytest.importorskip("tensorflow_datasets")
    cfg = dict(name="cifar10")
    with tfds.testing.mock_data(num_examples=24):
        spe = data.steps_per_epoch(cfg, 8)  # 3 steps of 4 rows per host cover its 12 examples
        seen = []
        for p in range(2):
            it = data.make_train_iterator(cfg, global_batch_size=8, seed=0, process_index=p,
                                          process_count=2)
            batches = take(it, 2 * spe)
            assert all(b["image"].shape == (4, 32, 32, 3) for b in batches)
            epoch0 = np.concatenate([b["index"] for b in batches[:spe]])
            epoch1 = np.concatenate([b["index"] for b in batches[spe:]])
            assert sorted(epoch0.tolist()) == sorted(epoch1.tolist())
            seen.append(epoch0)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(24))
    assert set(seen[0].tolist()) == set(range(12))  # contiguous blocks: host 0 gets [0, 12)


def test_make_global_batch_on_eight_devices():
    import jax
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    if jax.device_count() < 8:
        pytest.skip("needs the 8 fake CPU devices of tests/conftest.py")
    mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
    assert data.process_data_shard(mesh) == (0, 1)
    local = digits_batches(16, 0, 1, 1)[0]
    batch = data.make_global_batch(local, mesh)
    assert batch["image"].shape == (16, 8, 8, 1) and batch["image"].dtype == np.uint8
    assert batch["label"].sharding == NamedSharding(mesh, P("data"))
    for shard in batch["index"].addressable_shards:
        assert shard.data.shape == (2,)
        np.testing.assert_array_equal(np.asarray(shard.data), local["index"][shard.index])
    with pytest.raises(ConfigError) as err:
        data.make_global_batch({"image": local["image"][:12]}, mesh)
    assert "\n" not in str(err.value) and "divisible" in str(err.value)


_WORKER = textwrap.dedent(
    """
    import sys
    import jax
    import numpy as np
    from jax.sharding import Mesh

    port, pid = int(sys.argv[1]), int(sys.argv[2])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=pid)
    import ssljax.data as data

    cfg = dict(name="digits")
    full = next(data.make_train_iterator(cfg, global_batch_size=16, seed=7, start_step=20,
                                         process_index=0, process_count=1))
    for devices in (jax.devices(), jax.devices()[::-1]):  # process 1 first in the second mesh
        mesh = Mesh(np.array(devices), ("data",))
        index, count = data.process_data_shard(mesh)
        assert count == 2 and index == (pid if devices[0].process_index == 0 else 1 - pid)
        local = next(data.make_train_iterator(cfg, global_batch_size=16, seed=7, start_step=20,
                                              process_index=index, process_count=count))
        batch = data.make_global_batch(local, mesh)
        assert batch["image"].shape == (16, 8, 8, 1), batch["image"].shape
        for key in ("image", "label", "index"):
            for shard in batch[key].addressable_shards:
                np.testing.assert_array_equal(np.asarray(shard.data), full[key][shard.index])
    print("worker", pid, "ok")
    """
)


@pytest.mark.slow
def test_two_processes_assemble_the_single_process_global_batch(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    procs = [
        subprocess.Popen([sys.executable, str(script), str(port), str(pid)], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for pid in range(2)
    ]
    outputs = []
    for p in procs:
        try:
            outputs.append(p.communicate(timeout=150)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("two-process data test timed out")
    for pid, (p, out) in enumerate(zip(procs, outputs, strict=True)):
        assert p.returncode == 0 and f"worker {pid} ok" in out, out[-3000:]
