"""The pretraining program.

    python -m ssljax.pretrain --config=configs/simclr_mnist.py --workdir=runs/demo

config → mesh → data → state (initialised directly replicated) → loop (step,
EMA/queue inside the step, logging, periodic kNN, async checkpoints, SIGTERM)
→ final checkpoint, exported encoder, kNN + linear probe on the held-out split,
plots, `results.json` and the same JSON as the last line of stdout. Rerunning the
same command on the same workdir resumes from the newest checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from ssljax import (
    augment,
    checkpoint,
    cli,
    config_schema,
    data,
    encoder_io,
    engine,
    models,
    parallel,
    training,
)
from ssljax import (
    workdir as workdirs,
)
from ssljax.errors import CheckpointError, NumericalError, as_os_error, os_error_message
from ssljax.evaluate.plots import save_run_plots
from ssljax.metric_writer import MetricWriter, progress_bar, read_metrics
from ssljax.pretrain_eval import eval_encoder, eval_variables, evaluate_representation

_log = logging.getLogger("ssljax.pretrain")


class _StopFlag:
    """Set by SIGTERM or SIGINT: finish the current step, checkpoint, exit cleanly.

    A second SIGINT (Ctrl-C twice) stops at once.
    """

    def __init__(self):
        self.signal: int | None = None

    def __call__(self, signum, frame):  # noqa: ARG002 - signal handler signature
        if signum == signal.SIGINT and self.signal == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum
        if signum == signal.SIGINT:
            parallel.log_main("Ctrl-C: finishing this step and checkpointing (Ctrl-C again to "
                              "stop at once)")

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)

    def should_stop(self) -> bool:
        stop = self.signal is not None
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils  # noqa: PLC0415

            stop = bool(np.any(multihost_utils.process_allgather(np.array(stop))))
        return stop

    @property
    def status(self) -> str:
        """"interrupted" (SIGINT), else "preempted" (SIGTERM)."""
        return "interrupted" if self.signal == signal.SIGINT else "preempted"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Pretrains (or resumes) in `workdir` and evaluates; returns the results dict.

    Everything is checked — the config, the workdir (owner, lock, writability, free
    space, a resume's config), the data, the model — before anything is written.
    """
    t_start = time.time()
    cli.require_keys(config, cli.REQUIRED_PRETRAIN_KEYS)
    config, _ = config_schema.resolve(config, "pretrain")
    config_dict = config.to_dict()
    workdirs.check(workdir, program="pretrain", config=config_dict)
    mesh = parallel.make_mesh()
    parallel.check_batch_divisible(config.batch_size, mesh)
    info = data.dataset_info(config.dataset)
    spe = data.steps_per_epoch(config.dataset, config.batch_size)
    n_steps = training.total_steps(config.num_epochs, spe, config.max_steps)
    # Builds (and checks) everything, the initial state included, before writing anything.
    run = engine.build(config, mesh, num_classes=config.dataset.num_classes or info.num_classes,
                       image_shape=info.image_shape, steps_per_epoch=spe)
    method, specs, state = run.method, run.specs, run.state
    eval_view = augment.EvalView.of(specs[0], method.encoder_channels(info.image_shape[2]))
    view_shape = (specs[0].out_size, specs[0].out_size,
                  eval_view.channels or info.image_shape[2])
    evaluated = eval_encoder(config, method)

    main = parallel.is_main_process()
    if main:
        workdirs.probe(workdir, checkpoints=True)
    workdirs.claim(workdir, program="pretrain", main_process=main)
    ckpt = checkpoint.Checkpointer(workdir, max_to_keep=config.keep_checkpoints)
    start_step, train_seconds = 0, 0.0
    restored = ckpt.restore_latest(state)  # refuses a state of another structure
    if restored is not None:
        state, meta, start_step = restored
        train_seconds = float(meta.get("train_seconds", 0.0))
        parallel.log_main("resumed from step %d in %s", start_step, ckpt.directory)
    if main:  # after the restore: a refused resume leaves config.json as it was
        workdirs.record_config(workdir, config_dict)
    summary = parallel.process_summary(mesh)
    parallel.log_main(
        "%s on %s: %d device(s), %d process(es); %d steps (%d/epoch), global batch %d",
        method.name, summary["device_kind"], summary["devices"], summary["processes"],
        n_steps, spe, config.batch_size,
    )
    results: dict[str, Any] = {"program": "pretrain", "method": method.name,
                               "status": "running", "steps": int(start_step)}
    if main:  # results.json always describes the latest attempt
        checkpoint.write_json_atomic(Path(workdir) / "results.json", results)
    writer = MetricWriter(workdir, tensorboard=config.tensorboard,
                          resume_step=start_step)
    stop = _StopFlag()
    stop.install()
    try:
        results, state = _run(config, workdir, run, state, ckpt, writer, stop, start_step,
                              n_steps, train_seconds, evaluated, eval_view, view_shape)
    except Exception as e:  # a file-system error becomes one line; anything else propagates
        os_error = as_os_error(e)
        error = e if os_error is None else CheckpointError(os_error_message(
            os_error, "a write in --workdir failed", ckpt.last_good()))
        if main:  # the latest attempt failed: say so (best effort: the disk may be full)
            with contextlib.suppress(OSError):
                checkpoint.write_json_atomic(Path(workdir) / "results.json", {
                    **results, "status": "failed", "error": " ".join(str(error).split()),
                    "last_good_checkpoint": ckpt.last_good()})
        if os_error is None:
            raise
        raise error from None
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    ckpt.close()
    writer.close()
    results.update({"seconds": round(time.time() - t_start, 1), **summary})
    if main:
        checkpoint.write_json_atomic(Path(workdir) / "results.json", results)
    if results["status"] != "completed":
        parallel.log_main("%s at step %d; checkpoint at step %d in %s; rerun the same command "
                          "to resume", results["status"], results["steps"], results["steps"],
                          ckpt.directory)
    return results


def _run(config, workdir, run, state, ckpt, writer, stop, start_step, n_steps, train_seconds,
         evaluated, eval_view, view_shape):
    """Trains from `start_step`, checkpoints, and (when completed) exports and evaluates."""
    method, mesh = run.method, run.mesh
    status, last_loss, step = "completed", None, start_step
    t_train = time.time()
    if start_step < n_steps:
        status, last_loss, step, state = _train_loop(
            config, method, mesh, run.specs, eval_view, state, run.step, ckpt, writer, stop,
            start_step, n_steps, train_seconds, t_train,
        )
        if status != "completed":
            status = stop.status
    else:
        last_loss = _last_logged_loss(workdir)
    train_seconds += time.time() - t_train if start_step < n_steps else 0.0
    meta = {"method": method.name, "step": step, "loss": last_loss,
            "train_seconds": round(train_seconds, 1)}
    ckpt.wait()
    ckpt.save(step, state, meta, force=True)
    ckpt.wait()
    results: dict[str, Any] = {
        "program": "pretrain", "method": method.name, "status": status, "steps": int(step),
        "final_loss": last_loss, "nonfinite_steps": int(jax.device_get(state.nonfinite_steps)),
        "train_seconds": round(train_seconds, 1),
    }
    if status == "completed":
        t_eval = time.time()
        export_spec = {
            "method": method.name, "step": int(step), "network": evaluated,
            "encoder": {**config.encoder.to_dict(), **method.eval_encoder_attrs()},
            "bn": config.bn,
            "input_shape": list(view_shape), "eval_view": eval_view.to_json(),
            "dataset": config.dataset.to_dict(),
        }
        enc_params, enc_stats = _encoder_variables(state, evaluated)
        projector, export_spec["projector"] = _projector_variables(method, state, evaluated)
        encoder_io.export_encoder(workdir, enc_params, enc_stats, export_spec, projector)
        ev = evaluate_representation(config, method, state, mesh, eval_view, final=True)
        results.update({k: v for k, v in ev.items() if k in (
            "linear_top1", "linear_top5", "knn_top1", "encoder_std", "encoder_effective_rank")})
        writer.write(step, {f"final_{k}": v for k, v in ev.items() if isinstance(v, float)})
        if parallel.is_main_process() and config.plots:
            save_run_plots(workdir, read_metrics(workdir), *ev.pop("_features"),
                           what=f"{method.name} on {config.dataset.name}, step {step}, encoder "
                                f"features of the {config.dataset.eval_split} split")
        results["eval_seconds"] = round(time.time() - t_eval, 1)
    return results, state


def _train_loop(
    config, method, mesh, specs, eval_view, state, step_fn, ckpt, writer, stop,
    start_step, n_steps, train_seconds, t_train,
):
    """Runs steps [start_step, n_steps); returns (status, last loss, step, state)."""
    it = data.make_train_iterator(
        config.dataset,
        global_batch_size=config.batch_size,
        seed=config.seed,
        start_step=start_step,
    )
    log_every = config.log_every_steps
    eval_every = config.eval_every_steps
    ckpt_every = config.checkpoint_every_steps
    policy = config.nonfinite
    bar = progress_bar(n_steps, start_step, f"pretrain {method.name}")
    t_window, window_start = time.time(), start_step
    pending: tuple[int, dict[str, Any]] | None = None
    last_loss, step, status = None, start_step, "completed"
    try:
        for step in range(start_step + 1, n_steps + 1):
            batch = data.make_global_batch(next(it), mesh)
            state, metrics = step_fn(state, batch)
            # Read the previous step's metrics now, so the host never waits on the current step.
            if pending is not None:
                last_loss = _check_finite(pending, policy, ckpt)
            pending = (step, metrics)
            if bar is not None:
                bar.update(1)
            if step % log_every == 0 or step == n_steps:
                host = {k: float(v) for k, v in jax.device_get(metrics).items()}
                last_loss = _check_finite((step, host), policy, ckpt)
                pending = None
                now = time.time()
                host["steps_per_s"] = (step - window_start) / max(now - t_window, 1e-9)
                host["views_per_s"] = host["steps_per_s"] * config.batch_size * len(specs)
                t_window, window_start = now, step
                writer.write(step, host)
                if bar is not None:
                    bar.set_postfix(loss=f"{host['loss']:.4f}", probe=f"{host['probe_top1']:.3f}")
            if eval_every and step % eval_every == 0 and step != n_steps:
                ev = evaluate_representation(config, method, state, mesh, eval_view,
                                             final=False)
                writer.write(step, ev)
            if ckpt_every and step % ckpt_every == 0:
                ckpt.save(step, state, {
                    "method": method.name, "step": step, "loss": last_loss,
                    "train_seconds": round(train_seconds + time.time() - t_train, 1)})
            if stop.should_stop():
                status = stop.status
                parallel.log_main("signal received: checkpointing step %d and exiting", step)
                break
        if pending is not None:
            last_loss = _check_finite(pending, policy, ckpt)
    finally:
        if bar is not None:
            bar.close()
        if hasattr(it, "close"):
            it.close()
    return status, last_loss, step, state


def _check_finite(pending: tuple[int, dict[str, Any]], policy: str, ckpt) -> float:
    """Returns the step's loss; stops the run on NaN/Inf unless policy is 'skip'."""
    step, metrics = pending
    loss = float(metrics["loss"])
    if float(metrics["nonfinite"]) > 0 and policy != "skip":
        ckpt.wait()
        good = ckpt.steps()
        where = f"step {good[-1]} in {ckpt.directory}" if good else "none yet"
        raise NumericalError(
            f"loss or gradients became NaN/Inf at step {step} (the update was not applied); "
            f"last good checkpoint: {where}; lower optimizer.base_lr or set "
            "--config.nonfinite=skip to skip such steps"
        )
    return loss


def _last_logged_loss(workdir: str) -> float | None:
    rows = [r for r in read_metrics(workdir) if "loss" in r]
    return rows[-1]["loss"] if rows else None


def _encoder_variables(state, encoder: str) -> tuple[Any, Any]:
    params, stats = eval_variables(state, encoder)
    return jax.device_get(params["encoder"]), jax.device_get((stats or {}).get("encoder", {}))


def _projector_variables(method, state, encoder: str) -> tuple[Any, Any]:
    """The hidden layers of an MLP projector ({"params", "batch_stats"}) and their spec, for
    SimCLR v2's fine-tuning from the projector; (None, None) for other heads."""
    head = getattr(method.model, "projector", None)
    params, stats = eval_variables(state, encoder)
    if not isinstance(head, models.MLPHead) or not head.hidden_dims or "projector" not in params:
        return None, None
    names = {f"{kind}{i}" for kind in ("dense", "bn") for i in range(len(head.hidden_dims))}
    keep = lambda tree: {k: v for k, v in (tree or {}).items() if k in names}  # noqa: E731
    variables = {"params": keep(params["projector"]),
                 "batch_stats": keep((stats or {}).get("projector"))}
    return jax.device_get(variables), {"hidden_dims": list(head.hidden_dims),
                                       "use_bn": bool(head.use_bn)}


def run() -> None:
    """Console-script entry point (`ssljax-pretrain`)."""
    cli.run_main(train_and_evaluate)


if __name__ == "__main__":
    run()
