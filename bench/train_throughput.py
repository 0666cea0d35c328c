"""Training-step throughput of clip_core vs open_clip on the same preset, batch and data (CPU by default).

Usage: python bench/train_throughput.py [--model tiny] [--batch 64] [--steps 8] [--threads 2] [--no-memory]
Both libraries train on the same synthetic-world batches (clip_core's `make_batch`), interleaved step by
step. Prints samples/s of each and the ratio clip_core / open_clip, the median time of each phase (data,
forward incl. loss, backward, optimizer incl. the logit-scale clamp), and the peak-memory saving of
gradient checkpointing (Linux peak-RSS growth over 3 steps, each configuration in its own subprocess).
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PHASES = ("data", "forward", "backward", "optimizer")


def _clip_core_step(cfg, grad_ckpt: bool):
    """A closure running one timed clip_core training step; returns per-phase seconds."""
    from clip_core.train.data_feed import ExampleFeed
    from clip_core.train.loss import clip_loss
    from clip_core.train.optim import build_optimizer, clamp_logit_scale
    from clip_core.train.trainer import build_model, make_batch

    model = build_model(cfg).train()
    model.set_grad_checkpointing(grad_ckpt)
    opt = build_optimizer(model, cfg.lr, cfg.weight_decay, cfg.betas, cfg.eps)
    feed = ExampleFeed(cfg.data)
    state = {"step": 0}

    def step() -> Dict[str, float]:
        t = [time.perf_counter()]
        images, texts = make_batch(model, feed, cfg, state["step"])
        t.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss = clip_loss(model.encode_image(images, normalize=True), model.encode_text(texts, normalize=True),
                         model.logit_scale)
        t.append(time.perf_counter())
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        clamp_logit_scale(model)
        t.append(time.perf_counter())
        state["step"] += 1
        return {p: t[i + 1] - t[i] for i, p in enumerate(PHASES)}

    return step, model


def _open_clip_step(cfg, grad_ckpt: bool):
    """The same step with open_clip's model, ClipLoss, AdamW parameter groups and clamp (as its training/main.py)."""
    from open_clip.loss import ClipLoss

    from bench.forward_throughput import open_clip_model
    from clip_core.train.data_feed import ExampleFeed
    from clip_core.train.trainer import build_model, make_batch

    torch.manual_seed(cfg.seed)
    model = open_clip_model(cfg.model).train()
    model.set_grad_checkpointing(grad_ckpt)
    helper = build_model(cfg)  # only its preprocessing and tokenizer, so the data are identical
    exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n  # noqa: E731
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if exclude(n, p) and p.requires_grad], "weight_decay": 0.0},
              {"params": [p for n, p in named if not exclude(n, p) and p.requires_grad],
               "weight_decay": cfg.weight_decay}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    loss_fn = ClipLoss()
    feed = ExampleFeed(cfg.data)
    state = {"step": 0}

    def step() -> Dict[str, float]:
        t = [time.perf_counter()]
        images, texts = make_batch(helper, feed, cfg, state["step"])
        t.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        img, txt, scale = model(images, texts)[:3]
        loss = loss_fn(img, txt, scale)
        t.append(time.perf_counter())
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        t.append(time.perf_counter())
        state["step"] += 1
        return {p: t[i + 1] - t[i] for i, p in enumerate(PHASES)}

    return step, model


def _config(model: str, batch: int):
    from clip_core.train import TrainConfig
    return TrainConfig(data="synthetic", model=model, batch_size=batch, augment=True, progress=False, seed=0)


def throughput(model: str, batch: int, steps: int, threads: int) -> Dict[str, object]:
    """Interleaved timed steps of both libraries; median per-phase seconds and samples/s."""
    torch.set_num_threads(threads)
    cfg = _config(model, batch)
    runners: Dict[str, Callable[[], Dict[str, float]]] = {
        "clip_core": _clip_core_step(cfg, False)[0], "open_clip": _open_clip_step(cfg, False)[0]}
    for fn in runners.values():  # warm-up
        fn()
    times: Dict[str, List[Dict[str, float]]] = {k: [] for k in runners}
    for _ in range(steps):
        for name, fn in runners.items():
            times[name].append(fn())
    out: Dict[str, object] = {}
    for name, rows in times.items():
        phases = {p: statistics.median(r[p] for r in rows) for p in PHASES}
        total = statistics.median(sum(r.values()) for r in rows)
        out[name] = {"samples_per_s": batch / total, "step_s": total, **{f"{p}_s": v for p, v in phases.items()}}
    out["ratio"] = out["clip_core"]["samples_per_s"] / out["open_clip"]["samples_per_s"]
    return out


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise ValueError(f"/proc/self/status: no field {field}")


def memory_child(lib: str, model: str, batch: int, grad_ckpt: bool, threads: int) -> Dict[str, float]:
    """(Runs in a subprocess.) Peak RSS over 3 training steps minus the RSS before them (Linux VmHWM, reset first).

    The growth holds activations, gradients and AdamW state; only the activations depend on checkpointing.
    """
    torch.set_num_threads(threads)
    cfg = _config(model, batch)
    step = (_clip_core_step if lib == "clip_core" else _open_clip_step)(cfg, grad_ckpt)[0]
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS high-water mark
    base = _status_mb("VmRSS")
    for _ in range(3):
        step()
    peak = _status_mb("VmHWM")
    return {"base_mb": base, "peak_mb": peak, "growth_mb": peak - base,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def memory(model: str, batch: int, threads: int) -> Dict[str, Dict[str, float]]:
    """Peak RSS with and without gradient checkpointing, per library, each in a fresh subprocess."""
    out: Dict[str, Dict[str, float]] = {}
    for lib in ("clip_core", "open_clip"):
        for ckpt in (False, True):
            cmd = [sys.executable, __file__, "--memory-child", lib, "--model", model, "--batch", str(batch),
                   "--threads", str(threads)] + (["--grad-ckpt"] if ckpt else [])
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            out[f"{lib}{'_ckpt' if ckpt else ''}"] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--mem-batch", type=int, default=None, help="batch of the memory runs (default --batch)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-child", choices=("clip_core", "open_clip"), help=argparse.SUPPRESS)
    ap.add_argument("--grad-ckpt", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    args = ap.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.model, args.batch, args.grad_ckpt, args.threads)))
        return
    r = throughput(args.model, args.batch, args.steps, args.threads)
    print(f"preset {args.model}, batch {args.batch}, {args.steps} timed steps (median), {args.threads} threads")
    print(f"{'':12s} {'clip_core':>10s} {'open_clip':>10s}")
    print(f"{'samples/s':12s} {r['clip_core']['samples_per_s']:10.1f} {r['open_clip']['samples_per_s']:10.1f}"
          f"   ratio {r['ratio']:.2f}")
    for p in PHASES:
        print(f"{p + ' ms':12s} {1e3 * r['clip_core'][p + '_s']:10.1f} {1e3 * r['open_clip'][p + '_s']:10.1f}")
    if not args.no_memory:
        mb = args.mem_batch or args.batch
        m = memory(args.model, mb, args.threads)
        print(f"peak RSS growth over 3 steps (activations + grads + AdamW state), batch {mb} (MB):")
        for lib in ("clip_core", "open_clip"):
            plain, ck = m[lib]["growth_mb"], m[lib + "_ckpt"]["growth_mb"]
            print(f"  {lib:10s} no-ckpt {plain:8.1f}  grad-ckpt {ck:8.1f}  saved {plain - ck:8.1f}")
        r["memory"] = m
    if args.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
