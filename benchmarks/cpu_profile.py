"""Where a CPU training step spends its time, op by op, in XLA:CPU and in PyTorch.

Used by `benchmarks/cpu_parity.py --profile` (its workers call `profile_jax` /
`profile_torch` after timing a step); importable on its own.

Both profilers time each operation of a few steps and sum the times per category:

- XLA:CPU (`jax.profiler`, its XSpace trace): every executed thunk is one HLO instruction of
  the compiled step (`compiled.as_text()`); a fusion is classified by what its fused
  computation contains — a convolution (forward, input gradient or kernel gradient, told
  apart by the convolution's `dim_labels`), a matrix product (`dot`: the head, NT-Xent, and
  `ssljax.models.conv`'s per-tap kernel gradient), a reduction (BatchNorm statistics,
  sums), a layout copy (transpose/copy only) or element-wise work. Control flow (while
  loops, calls) is not counted itself: the thunks inside it are.
- PyTorch (`torch.profiler`): each aten operator's *self* CPU time, classified by name
  (`mkldnn_convolution` / `convolution_backward`, `native_batch_norm*`, `mm`/`addmm`,
  copies, the rest element-wise).

The sums are operator time, not wall time: XLA runs independent thunks on two threads at
once, and PyTorch's operators use both cores inside one call, so each library's total can
differ from its step time; compare the categories' shares and milliseconds side by side.
"""

from __future__ import annotations

import collections
import glob
import re
import tempfile
from collections.abc import Callable

_CONTROL = ("while", "call", "conditional", "tuple", "get-tuple-element", "parameter",
            "constant", "bitcast")
_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*\S.*?\s([\w\-]+)\(")
_COMP = re.compile(r"^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_DIM_LABELS = re.compile(r"dim_labels=(\w+)_(\w+)->(\w+)")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_TARGET = re.compile(r'custom_call_target="([^"]*)"')
# ssljax.models.native's oneDNN calls
_NATIVE = {"ssljax_conv_forward": "conv forward",
           "ssljax_conv_input_gradient": "conv input gradient",
           "ssljax_conv_kernel_gradient": "conv kernel gradient"}


def _is_kernel_gradient(line: str) -> bool:
    """Whether an HLO convolution is a kernel gradient: XLA writes it with the output
    gradient as the "kernel" — dilated by the stride (`rhs_dilate`) or as large as the
    activations — or with the kernel as its output (`...->01..`)."""
    labels = _DIM_LABELS.search(line)
    if labels and not labels.group(3).startswith("b"):
        return True
    window = re.search(r"window=\{size=(\d+)x(\d+)", line)
    return "rhs_dilate" in line or bool(window and max(map(int, window.groups())) > 7)


def _phase(name: str) -> str:
    """forward / backward / optimizer from an instruction's `op_name` metadata: JAX names
    the backward pass `transpose(jvp(...))` and the forward pass under `value_and_grad`
    `jvp(...)`; what is under neither is the optimizer update (and the step's bookkeeping)."""
    if "transpose(" in name:
        return "backward"
    return "forward" if "jvp(" in name else "optimizer"


def _kind(lines: list[str], comps: dict[str, list[str]], seen: set[str]) -> str:
    """What a thunk computes: conv, matmul, reduction, layout copy or element-wise."""
    ops = set()
    for ln in lines:
        m = _INSTR.match(ln)
        if not m:
            continue
        op = m.group(2)
        called = _CALLS.search(ln) if op in ("fusion", "custom-call") else None
        if called and called.group(1) not in seen:
            op = _kind(comps.get(called.group(1), []), comps, seen | {called.group(1)})
        ops.add(op)
        if op == "convolution":
            ops.add("kernel-gradient conv" if _is_kernel_gradient(ln) else "conv")
    for kind, names in (("kernel-gradient conv", {"kernel-gradient conv"}),
                        ("conv", {"conv", "convolution"}), ("matmul", {"dot", "matmul"}),
                        ("reduction", {"reduce", "reduce-window", "reduction"})):
        if ops & names:
            return kind
    if ops and ops <= {"transpose", "copy", "parameter", "bitcast", "reshape", "layout copy"}:
        return "layout copy"
    return "element-wise"


def _op_names(lines: list[str]) -> dict[str, str]:
    """{instruction: its `op_name` metadata}; an instruction that XLA created without one
    (a rewritten convolution) takes the op_name of an instruction that uses it."""
    names, users = {}, collections.defaultdict(list)
    for ln in lines:
        m = _INSTR.match(ln)
        if not m:
            continue
        found = _OP_NAME.search(ln)
        names[m.group(1)] = found.group(1) if found else ""
        for operand in re.findall(r"%([\w.\-]+)", ln.split("=", 1)[1]):
            users[operand].append(m.group(1))
    for name in [n for n, op in names.items() if not op]:
        names[name] = next((names[u] for u in users.get(name, []) if names.get(u)), "")
    return names


def classify_hlo(hlo_text: str) -> dict[str, str]:
    """{instruction name: category} for every instruction of a compiled HLO module that
    executes as a thunk (fusions, custom calls, copies, dots, convolutions, ...).

    Categories: "conv forward", "conv input gradient", "conv kernel gradient" (XLA's
    kernel-gradient convolution, or the matrix products of `ssljax.models.conv`'s per-tap
    kernel gradient: a dot in the backward pass of a `conv` layer), and otherwise
    "<forward|backward|optimizer> <matmul|reduction|layout copy|element-wise>". The oneDNN
    calls of `ssljax.models.native` count as the convolution they compute."""
    comps: dict[str, list[str]] = collections.defaultdict(list)
    current = None
    for line in hlo_text.splitlines():
        head = _COMP.match(line)
        if head and "=" not in line.split("{")[0]:
            current = head.group(1)
        elif current is not None:
            comps[current].append(line)
    out = {}
    for lines in comps.values():
        names = _op_names(lines)
        for ln in lines:
            m = _INSTR.match(ln)
            if not m or m.group(2) in _CONTROL:
                continue
            op_name = names.get(m.group(1), "")
            target = _TARGET.search(ln)
            if target and target.group(1) in _NATIVE:
                out[m.group(1)] = _NATIVE[target.group(1)]
                continue
            kind, phase = _kind([ln], comps, set()), _phase(op_name)
            in_conv = "/conv" in op_name
            if kind == "kernel-gradient conv" or (
                    kind == "matmul" and phase == "backward" and in_conv):
                out[m.group(1)] = "conv kernel gradient"
            elif kind == "conv":
                out[m.group(1)] = "conv input gradient" if phase == "backward" else (
                    "conv forward")
            else:
                out[m.group(1)] = f"{phase} {kind}"
    return out


def profile_jax(step: Callable[[], object], hlo_text: str, steps: int = 3) -> dict:
    """Runs `step()` `steps` times under `jax.profiler` and sums the thunks' times by
    category (ms per step); also the 8 longest instructions."""
    import jax  # noqa: PLC0415

    kinds = classify_hlo(hlo_text)
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp):  # as benchmarks/step_time.py --profile_top
            for _ in range(steps):
                step()
        profile = jax.profiler.ProfileData.from_file(
            glob.glob(f"{tmp}/**/*.xplane.pb", recursive=True)[0])
    # A thunk's event covers its launch; an "end: <name>" event marks its completion (a
    # convolution runs asynchronously on the intra-op pool, so its launch event is short).
    starts, ends = collections.defaultdict(list), collections.defaultdict(list)
    for plane in profile.planes:
        for line in plane.lines:
            for e in line.events:
                if e.name in kinds:
                    starts[e.name].append(e.start_ns)
                elif e.name.startswith("end: ") and e.name[5:] in kinds:
                    ends[e.name[5:]].append(e.start_ns + e.duration_ns)
    intervals = []
    for name, ts in starts.items():
        done = sorted(ends.get(name, []))
        intervals += [(t0, t1, name) for t0, t1 in zip(sorted(ts), done, strict=False)
                      if t1 > t0]
    return _summary(_wall_shares(intervals, steps), kinds)


def _wall_shares(intervals: list[tuple[float, float, str]], steps: int
                 ) -> collections.Counter:
    """Wall time per name (ms per step) from (start ns, end ns, name) intervals: each
    instant is shared equally by the thunks running then, so the shares add up to the time
    the executor was busy."""
    points = sorted({t for t0, t1, _ in intervals for t in (t0, t1)})
    index = {t: i for i, t in enumerate(points)}
    delta = [collections.Counter() for _ in points]
    for t0, t1, name in intervals:
        delta[index[t0]][name] += 1
        delta[index[t1]][name] -= 1
    active: collections.Counter = collections.Counter()
    shares: collections.Counter = collections.Counter()
    for i, t in enumerate(points[:-1]):
        active.update(delta[i])
        active = +active  # drop zero counts
        n = sum(active.values())
        if n:
            seg = (points[i + 1] - t) / 1e6 / steps  # ns -> ms per step
            for name, count in active.items():
                shares[name] += seg * count / n
    return shares


_TORCH_KINDS = (
    ("convolution_backward", "conv gradients (input + kernel)"),
    ("convolution", "conv forward"),
    ("batch_norm", "batch norm (fwd + bwd)"),
    ("addmm", "matmul"), ("::mm", "matmul"), ("bmm", "matmul"), ("matmul", "matmul"),
    ("copy_", "layout copy"), ("contiguous", "layout copy"), ("clone", "layout copy"),
    ("sum", "reduction"), ("mean", "reduction"), ("norm", "reduction"),
)


def profile_torch(step: Callable[[], object], steps: int = 3) -> dict:
    """Runs `step()` `steps` times under `torch.profiler` and sums each aten operator's
    self CPU time by category (ms per step); also the 8 longest operators."""
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    per_op: collections.Counter = collections.Counter()
    kinds = {}
    for avg in prof.key_averages():
        if not avg.key.startswith("aten::"):
            continue
        per_op[avg.key] += avg.self_cpu_time_total / 1000.0 / steps
        kinds[avg.key] = next((k for pat, k in _TORCH_KINDS if pat in avg.key), "element-wise")
    return _summary(per_op, kinds)


def _summary(per_op: collections.Counter, kinds: dict[str, str]) -> dict:
    by_kind: collections.Counter = collections.Counter()
    for name, ms in per_op.items():
        by_kind[kinds[name]] += ms
    total = sum(by_kind.values())
    return {
        "op_ms_per_step": round(total, 1),
        "by_category_ms": {k: round(v, 1) for k, v in by_kind.most_common()},
        "top_ops_ms": [[name, kinds[name], round(ms, 1)] for name, ms in per_op.most_common(8)],
    }
