"""The CLIP training loop: feature-caching gradient accumulation, bf16 autocast, clamp, atomic checkpoints, exact resume.

Run ``train(TrainConfig(...))``. Batch b of the run always holds examples ``b*B .. b*B+B-1`` of the
source (cycling by epoch) and the augmentation RNG is re-seeded from (seed, step), so a run resumed
from a checkpoint continues bit-identically on CPU (the checkpoint is read with weights_only=True and
must have been written with the same settings, `RESUME_FREE_FIELDS` apart). Output directory: ``checkpoint.pt`` (clip_core
format plus ``epoch``, ``step``, ``name``, ``config``, ``optimizer``) and ``metrics.jsonl``.
Under ``torchrun`` (WORLD_SIZE > 1) each rank takes its contiguous share of the global batch, features
are all-gathered with gradient, parameter gradients are averaged, and only rank 0 writes files.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from clip_core.checkpoint import checkpoint_payload
from clip_core.config import check_activation, get_preset
from clip_core.model import CLIP
from clip_core.tokenizer import Tokenizer

from .data_feed import ExampleFeed, split_micro
from .loss import clip_loss
from .optim import build_optimizer, clamp_logit_scale
from .toolkit import (DistInfo, average_gradients, distributed_session, load_optimizer_state, load_training_state,
                      lr_at, mean_across_ranks, save_training_state, truncate_metrics)

PRECISIONS = ("fp32", "bf16")
CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"
RESUME_FIELDS = ("step", "config", "state_dict", "optimizer")
# settings that do not change what a run computes; every other TrainConfig field must match on resume
RESUME_FREE_FIELDS = ("out", "name", "save_every", "log_every", "device", "progress")


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved in the checkpoint under "config")."""

    data: str = "synthetic"
    model: str = "tiny"
    activation: str = "gelu"
    steps: int = 100
    batch_size: int = 64
    accum_steps: int = 1
    lr: float = 1e-3
    min_lr: float = 0.0
    weight_decay: float = 0.2
    warmup_fraction: float = 0.1
    warmup_steps: Optional[int] = None
    betas: List[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-6
    grad_clip_norm: Optional[float] = None
    precision: str = "fp32"
    grad_checkpointing: bool = False
    augment: bool = True
    seed: int = 0
    out: Optional[str] = None
    name: str = "clip_core"
    save_every: Optional[int] = None
    log_every: int = 1
    device: str = "cpu"
    progress: bool = True
    tokenizer: Optional[str] = None  # merges file of our own vocabulary; None: OpenAI's

    def validate(self) -> "TrainConfig":
        """Check field values; raises ValueError naming the field."""
        for f in ("steps", "batch_size", "accum_steps", "log_every"):
            if int(getattr(self, f)) < 1:
                raise ValueError(f"TrainConfig.{f} must be >= 1, got {getattr(self, f)}")
        if self.batch_size % self.accum_steps:
            raise ValueError(f"TrainConfig.batch_size ({self.batch_size}) must be divisible by "
                             f"accum_steps ({self.accum_steps})")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"TrainConfig.warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr}")
        check_activation(self.activation, "TrainConfig.activation")
        return self

    @property
    def total_warmup(self) -> int:
        """Warm-up length in steps (explicit, else a fraction of the run)."""
        if self.warmup_steps is not None:
            return int(self.warmup_steps)
        return int(round(self.warmup_fraction * self.steps))

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        """Inverse of `to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown fields {unknown}")
        return cls(**d)


@dataclass
class TrainResult:
    """What a run returns: the model, optimizer, last step and per-step losses of this invocation."""

    model: CLIP
    optimizer: torch.optim.Optimizer
    step: int
    losses: List[float]
    checkpoint: Optional[Path]


def build_model(cfg: TrainConfig) -> CLIP:
    """A freshly initialised model for the config (seeded by cfg.seed)."""
    torch.manual_seed(cfg.seed)
    if cfg.tokenizer is None:
        model = CLIP(get_preset(cfg.model), cfg.activation)
    else:
        config = get_preset(cfg.model)
        tokenizer = Tokenizer.from_file(cfg.tokenizer, max_merges=None, context_length=config.text.context_length)
        model = CLIP(get_preset(cfg.model, vocab_size=tokenizer.vocab_size), cfg.activation)
        model.tokenizer = tokenizer
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return model.to(cfg.device)


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919 + 12345) % (2 ** 63)


def make_batch(model: CLIP, feed: ExampleFeed, cfg: TrainConfig, step: int,
               rank: int = 0, world: int = 1) -> Tuple[torch.Tensor, torch.Tensor]:
    """(images, token ids) of this rank's contiguous 1/world share of global batch `step`, augmentation seeded by (seed, step, rank)."""
    share = cfg.batch_size // world
    examples = feed.take(step * cfg.batch_size + rank * share, share)
    transform = model.preprocess(train=cfg.augment)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(_step_seed(cfg.seed, step) + rank)
    try:
        images = torch.stack([transform(ex.image) for ex in examples])
    finally:
        torch.random.set_rng_state(gen_state)
    texts = model.tokenize([ex.caption for ex in examples])
    return images.to(cfg.device), texts.to(cfg.device)


def _autocast(cfg: TrainConfig):
    if cfg.precision == "bf16":
        return torch.autocast(device_type=torch.device(cfg.device).type, dtype=torch.bfloat16)
    return nullcontext()


def _encode(model: CLIP, images: torch.Tensor, texts: torch.Tensor):
    return model.encode_image(images, normalize=True), model.encode_text(texts, normalize=True)


def accumulate_gradients(model: CLIP, images: torch.Tensor, texts: torch.Tensor, accum_steps: int,
                         precision_ctx=None) -> float:
    """Backward of the whole-batch loss in `accum_steps` micro-batches (open_clip feature cache); returns the loss.

    Features of every micro-batch are first computed without grad; then each micro-batch is re-encoded
    with grad and the loss over the full batch is back-propagated, so the summed gradients equal those
    of one big batch. The logit scale takes its gradient from the first micro-step only.
    """
    ctx = precision_ctx or nullcontext
    if accum_steps == 1:
        with ctx():
            img, txt = _encode(model, images, texts)
            loss = clip_loss(img, txt, model.logit_scale)
        loss.backward()
        return float(loss.detach())
    slices = split_micro(images.shape[0], accum_steps)
    with torch.no_grad(), ctx():
        cached = [_encode(model, images[a:b], texts[a:b]) for a, b in slices]
    value = 0.0
    for j, (a, b) in enumerate(slices):
        with ctx():
            img_j, txt_j = _encode(model, images[a:b], texts[a:b])
            imgs = [img_j if i == j else c[0] for i, c in enumerate(cached)]
            txts = [txt_j if i == j else c[1] for i, c in enumerate(cached)]
            scale = model.logit_scale if j == 0 else model.logit_scale.detach()
            loss = clip_loss(torch.cat(imgs), torch.cat(txts), scale)
        loss.backward()
        value = float(loss.detach())
    return value


def _save(path: Path, model: CLIP, optimizer, cfg: TrainConfig, step: int, epoch: int) -> Path:
    extra = {"epoch": epoch, "step": step, "name": cfg.name, "config": cfg.to_dict(),
             "optimizer": optimizer.state_dict()}
    return save_training_state(path, checkpoint_payload(model, extra=extra))


def read_resume_checkpoint(path: str, cfg: TrainConfig) -> Dict[str, Any]:
    """Read a trainer checkpoint (weights_only) and check it was written with the same settings as `cfg`."""
    payload = load_training_state(path, RESUME_FIELDS, cfg.device, "clip_core training checkpoint")
    if not isinstance(payload["config"], dict):
        raise ValueError(f"{path}: field 'config' is not a TrainConfig dict")
    try:
        saved = TrainConfig.from_dict(payload["config"]).to_dict()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: field 'config' is not a TrainConfig of this version ({exc})") from exc
    ours = cfg.to_dict()
    differ = [f"{k} (checkpoint {saved[k]!r}, this run {ours[k]!r})" for k in ours
              if k not in RESUME_FREE_FIELDS and saved[k] != ours[k]]
    if differ:
        raise ValueError(f"{path} was written with other training settings: {'; '.join(differ)}. "
                         "Resume with the same settings, or start a new run without --resume")
    return payload


def _progress(cfg: TrainConfig, start: int):
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=cfg.steps, initial=start, desc="train", unit="step", dynamic_ncols=True)


def train(cfg: TrainConfig, resume: Optional[str] = None, stop_after: Optional[int] = None,
          feed: Optional[ExampleFeed] = None) -> TrainResult:
    """Train (or resume) a CLIP model; `stop_after` ends the invocation early at that global step (for tests)."""
    cfg.validate()
    with distributed_session(cfg.device) as dinfo:
        return _train(cfg, dinfo, resume, stop_after, feed)


def _train(cfg: TrainConfig, dinfo: DistInfo, resume: Optional[str], stop_after: Optional[int],
           feed: Optional[ExampleFeed]) -> TrainResult:
    if cfg.batch_size % (dinfo.world * cfg.accum_steps):
        raise ValueError(f"TrainConfig.batch_size ({cfg.batch_size}) must be divisible by world size "
                         f"({dinfo.world}) x accum_steps ({cfg.accum_steps})")
    if dinfo.world > 1:
        cfg = dataclasses.replace(cfg, device=dinfo.device)
        if not dinfo.is_main:  # only rank 0 writes checkpoints, metrics and the progress bar
            cfg = dataclasses.replace(cfg, progress=False)
    payload = read_resume_checkpoint(resume, cfg) if resume else None
    model = build_model(cfg)
    optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay, cfg.betas, cfg.eps)
    start = 0
    if payload is not None:
        try:
            model.load_state_dict(payload["state_dict"])
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"{resume}: the weights do not fit the configured model ({exc})") from exc
        load_optimizer_state(optimizer, payload["optimizer"], str(resume))
        start = int(payload["step"])
    feed = feed or ExampleFeed(cfg.data)
    out = Path(cfg.out) if cfg.out and dinfo.is_main else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if payload is not None:
            truncate_metrics(out / METRICS_NAME, start)  # lines logged after the checkpoint was written
    end = min(cfg.steps, stop_after) if stop_after is not None else cfg.steps
    model.train()
    losses: List[float] = []
    bar = _progress(cfg, start)
    ckpt: Optional[Path] = None
    step = start
    try:
        for step in range(start, end):
            t0 = time.perf_counter()
            lr = lr_at(step, cfg.lr, cfg.total_warmup, cfg.steps, cfg.min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, texts = make_batch(model, feed, cfg, step, dinfo.rank, dinfo.world)
            optimizer.zero_grad(set_to_none=True)
            loss = accumulate_gradients(model, images, texts, cfg.accum_steps, lambda: _autocast(cfg))
            if dinfo.world > 1:
                average_gradients(model)  # mean of the ranks' local-loss gradients = full-batch gradient
                loss = mean_across_ranks(loss)
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at step {step}")
            if cfg.grad_clip_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
            optimizer.step()
            clamp_logit_scale(model)
            losses.append(loss)
            dt = max(time.perf_counter() - t0, 1e-9)
            record = {"step": step + 1, "epoch": feed.epoch_of(step * cfg.batch_size), "loss": loss,
                      "logit_scale": float(model.logit_scale.detach().exp()), "lr": lr,
                      "samples_per_s": cfg.batch_size / dt}
            if out is not None and ((step + 1) % cfg.log_every == 0 or step + 1 == end):
                with open(out / METRICS_NAME, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", scale=f"{record['logit_scale']:.2f}",
                                samples_s=f"{record['samples_per_s']:.1f}")
            if out is not None and cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < end:
                ckpt = _save(out / CHECKPOINT_NAME, model, optimizer, cfg, step + 1,
                             feed.epoch_of((step + 1) * cfg.batch_size))
        step = end
    finally:
        if bar is not None:
            bar.close()
    if out is not None and end > start:
        ckpt = _save(out / CHECKPOINT_NAME, model, optimizer, cfg, end, feed.epoch_of(end * cfg.batch_size))
    return TrainResult(model=model, optimizer=optimizer, step=end, losses=losses, checkpoint=ckpt)
