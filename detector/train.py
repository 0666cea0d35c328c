"""Training the detector: InfoNCE over augmented pairs, resumable atomic checkpoints, health metrics.

Outputs in `out_dir`: `checkpoint.pt` (latest training state, written atomically), `metrics.jsonl`
(one line per logged step: loss, InfoNCE, entropy, mean positive / negative / nearest-negative
similarity, learning rate, images per second), `detector.pt` (final weights, loadable with
`--detector PATH`) and `train.json` (configuration and status). Run it again to resume.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from clip_core.atomic_files import atomic_write_text
from clip_core.train.toolkit import (build_adamw, distributed_session, load_optimizer_state, load_training_state,
                                     lr_at, save_training_state, truncate_metrics)
from detector.augment import TrainAugment
from detector.checkpoint import FORMAT, load_detector, save_detector
from detector.config import DetectorConfig
from detector.embed import pick_device
from detector.losses import LossConfig, detector_loss
from detector.model import Detector
from detector.pairs import PairStream
from detector.preprocess import normalise_batch
from detector.sources import open_images


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping settings of a detector training run."""

    batch_size: int = 256
    epochs: int = 10
    max_steps: int | None = None
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float | None = 5.0
    num_workers: int = 2
    seed: int = 0
    shuffle_buffer: int = 512
    checkpoint_every: int = 200
    log_every: int = 10
    device: str = "auto"
    format: str | None = None
    progress: bool = True
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            raise ValueError(f"TrainConfig.batch_size must be >= 2 (InfoNCE needs negatives), got {self.batch_size}")
        if self.epochs < 1:
            raise ValueError(f"TrainConfig.epochs must be >= 1, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"TrainConfig.max_steps must be >= 1, got {self.max_steps}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("TrainConfig.checkpoint_every and log_every must be >= 1")


@dataclass
class TrainState:
    """Where training stands: global step, epoch, batches done in that epoch."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


@dataclass
class TrainResult:
    """Summary of a finished (or already finished) run."""

    out_dir: Path
    steps: int
    epochs: int
    detector_path: Path
    last_metrics: dict[str, float] = field(default_factory=dict)
    already_done: bool = False


def learning_rate(step: int, config: TrainConfig, total_steps: int | None) -> float:
    """The toolkit's warm-up + cosine schedule at the run's settings (constant after warm-up when the total is unknown)."""
    return lr_at(step, config.lr, config.warmup_steps, total_steps)


CHECKPOINT_FIELDS = ("identity", "model", "optimizer", "state")


_VOLATILE = ("progress", "num_workers", "device", "checkpoint_every", "log_every")


def _train_identity(train: TrainConfig) -> dict:
    return {k: v for k, v in asdict(train).items() if k not in _VOLATILE}


def _identity(images: str, detector: DetectorConfig, loss: LossConfig, augment: TrainAugment, train: TrainConfig) -> dict:
    return {"images": str(images), "detector": detector.to_dict(), "loss": asdict(loss), "augment": asdict(augment),
            "train": _train_identity(train)}


def _same_run(stored: dict | None, identity: dict) -> bool:
    """Whether a stored run identity matches; fields added to the configs since then count at their defaults."""
    if not isinstance(stored, dict) or set(stored) != set(identity):
        return False
    try:
        stored = dict(stored, detector=DetectorConfig.from_dict(stored["detector"]).to_dict(),
                      loss=asdict(LossConfig(**stored["loss"])), augment=asdict(TrainAugment(**stored["augment"])),
                      train=_train_identity(TrainConfig(**stored["train"])))
    except (TypeError, ValueError):
        return False
    return json.loads(json.dumps(stored)) == json.loads(json.dumps(identity))


def initial_weights(path: str | Path, detector: DetectorConfig) -> dict[str, torch.Tensor]:
    """Trainable weights of another run (its checkpoint.pt or detector.pt) to start from; same architecture required.

    The input size may differ (the trunk is convolutional); variant, trunk, descriptor size and input
    mode must match, and the weights must not be an inference export (weight norm folded away).
    """
    source = load_detector(path)
    if _is_folded(source, detector):
        raise ValueError(f"{path}: an inference export (weight norm folded, fp16) cannot be trained further; "
                         "start from the run's checkpoint.pt or detector.pt")
    free = {"input_size": None, "orbit": None, "threshold": None}
    ours, theirs = dict(detector.to_dict(), **free), dict(source.config.to_dict(), **free)
    if ours != theirs:
        diff = sorted(k for k in ours if ours.get(k) != theirs.get(k))
        raise ValueError(f"{path}: --init-from needs the same architecture; field(s) {', '.join(diff)} differ")
    return {k: v.float() if v.is_floating_point() else v for k, v in source.state_dict().items()}


def _is_folded(model: Detector, config: DetectorConfig) -> bool:
    """Whether `model` lost the weight-norm parametrisations a fresh model of `config` has."""
    fresh = any(hasattr(m, "parametrizations") for m in Detector(config).modules())
    return fresh and not any(hasattr(m, "parametrizations") for m in model.modules())


def train_detector(images: str, out_dir: str | Path, detector: DetectorConfig = DetectorConfig(),
                   loss: LossConfig = LossConfig(), train: TrainConfig = TrainConfig(),
                   augment: TrainAugment | None = None) -> TrainResult:
    """Train (or resume training) a detector on the images of a source; see the module docstring."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    augment = augment or TrainAugment(size=detector.input_size)
    if augment.size != detector.input_size:
        raise ValueError(f"augment size {augment.size} differs from the detector input size {detector.input_size}")
    identity = _identity(images, detector, loss, augment, train)
    summary_path = out / "train.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if not _same_run(summary.get("identity"), identity):
            raise ValueError(f"{out} holds a training run with different settings ({summary_path}); choose another --out")
        if summary.get("status") == "complete":
            return TrainResult(out, summary["steps"], summary["epochs"], out / "detector.pt", summary.get("last_metrics", {}), True)
    with distributed_session(str(pick_device(train.device))) as dinfo:
        return _train(images, out, detector, loss, train, augment, identity, dinfo.rank, dinfo.world,
                      torch.device(dinfo.device))


def _train(images: str, out: Path, detector: DetectorConfig, loss: LossConfig, train: TrainConfig,
           augment: TrainAugment, identity: dict, rank: int, world_size: int, device: torch.device) -> TrainResult:
    summary_path, ckpt_path, metrics_path = out / "train.json", out / "checkpoint.pt", out / "metrics.jsonl"
    torch.manual_seed(train.seed)
    model = Detector(detector).to(device).to(memory_format=torch.channels_last)  # faster on CPU (oneDNN) and CUDA
    opt = build_adamw(model, train.lr, train.weight_decay)
    state = TrainState()
    if ckpt_path.is_file():
        ckpt = load_training_state(ckpt_path, CHECKPOINT_FIELDS, device, "detector training checkpoint")
        if not _same_run(ckpt.get("identity"), identity):
            raise ValueError(f"{ckpt_path} was written with different settings; choose another --out")
        model.load_state_dict(ckpt["model"]["state_dict"])
        load_optimizer_state(opt, ckpt["optimizer"], str(ckpt_path))
        state = TrainState(**ckpt["state"])
        truncate_metrics(metrics_path, state.step)
    else:
        if train.init_from:
            model.load_state_dict(initial_weights(train.init_from, detector))
        if rank == 0:
            atomic_write_text(summary_path, json.dumps({"identity": identity, "status": "running"}, indent=2))
            if metrics_path.exists():
                metrics_path.unlink()
    train_model: torch.nn.Module = model
    if world_size > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    n_images = open_images(images, format=train.format).num_examples
    per_epoch = (n_images * augment.tiles_per_image // (train.batch_size * world_size)) if n_images else None
    total_steps = train.max_steps or (per_epoch * train.epochs if per_epoch else None)
    if per_epoch == 0:
        raise ValueError(f"{images}: {n_images} images is fewer than one batch of {train.batch_size}")

    def save(final: bool = False) -> None:
        if rank != 0:
            return
        payload = {"format": FORMAT, "version": 1, "config": detector.to_dict(), "folded": False, "dtype": "float32",
                   "metadata": {"step": state.step}, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
        save_training_state(ckpt_path, {"identity": identity, "model": payload, "optimizer": opt.state_dict(),
                                        "state": asdict(state)})

    window: dict[str, list[float]] = {}
    last: dict[str, float] = {}
    t_window = time.perf_counter()

    def flush_metrics(lr: float) -> None:
        """Append the mean of the metrics since the last line to metrics.jsonl."""
        nonlocal window, last, t_window
        if not window or rank != 0:
            window = {}
            return
        elapsed = time.perf_counter() - t_window
        n = len(window["loss"])
        last = {k: sum(v) / len(v) for k, v in window.items()}
        row = {"step": state.step, "epoch": state.epoch, **last, "lr": lr,
               "images_per_s": n * train.batch_size * world_size / max(elapsed, 1e-9)}
        with metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        window, t_window = {}, time.perf_counter()

    progress = None
    if train.progress and rank == 0:
        from tqdm.auto import tqdm

        progress = tqdm(total=total_steps, initial=state.step, unit="step", desc="train detector")
    done = False
    lr = learning_rate(state.step, train, total_steps)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    try:
        while state.epoch < train.epochs and not done:
            stream = PairStream(images, augment, train.seed, state.epoch, train.batch_size, state.batch_in_epoch,
                                train.shuffle_buffer, train.format)
            loader = DataLoader(stream, batch_size=train.batch_size, num_workers=train.num_workers, drop_last=True,
                                pin_memory=device.type == "cuda", persistent_workers=False)
            train_model.train()
            for v1, v2 in loader:
                if train.max_steps is not None and state.step >= train.max_steps:
                    done = True
                    break
                lr = learning_rate(state.step, train, total_steps)
                for group in opt.param_groups:
                    group["lr"] = lr
                x = normalise_batch(torch.cat([v1, v2]).to(device, non_blocking=True))
                x = x.contiguous(memory_format=torch.channels_last)
                with autocast:
                    z = train_model(x)
                z1, z2 = z.float().chunk(2)
                result = detector_loss(z1, z2, loss)
                opt.zero_grad(set_to_none=True)
                result.loss.backward()
                if train.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
                opt.step()
                state.step += 1
                state.batch_in_epoch += 1
                for key, value in (("loss", result.loss.item()), ("info_nce", result.info_nce.item()),
                                   ("entropy", result.entropy.item()), ("positive_similarity", result.positive_similarity),
                                   ("negative_similarity", result.negative_similarity),
                                   ("nearest_negative_similarity", result.nearest_negative_similarity)):
                    window.setdefault(key, []).append(value)
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{result.loss.item():.3f}", pos=f"{result.positive_similarity:.2f}",
                                         nn=f"{result.nearest_negative_similarity:.2f}")
                if state.step % train.log_every == 0:
                    flush_metrics(lr)
                if state.step % train.checkpoint_every == 0:
                    save()
            else:
                flush_metrics(lr)
                state.epoch += 1
                state.batch_in_epoch = 0
                save()
    finally:
        if progress is not None:
            progress.close()
    flush_metrics(lr)
    save()
    detector_path = out / "detector.pt"
    if rank == 0:
        model.metadata = {"trained_on": str(images), "steps": state.step, "loss": asdict(loss)}  # type: ignore[attr-defined]
        save_detector(model, detector_path, metadata=model.metadata)  # type: ignore[attr-defined]
        atomic_write_text(summary_path, json.dumps({"identity": identity, "status": "complete", "steps": state.step,
                                                    "epochs": state.epoch, "last_metrics": last}, indent=2))
    return TrainResult(out, state.step, state.epoch, detector_path, last)
