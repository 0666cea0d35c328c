"""Train a tiny clip_core CLIP on a caption table in seconds (the planted-bias model of the probe fixture).

The caption table (``path,caption``, paths relative to its folder) may list an image several times
with different captions; every step draws a seeded batch of rows. The model is a small ViT CLIP
with its own BPE vocabulary, trained with clip_core's CLIP loss, AdamW groups, warm-up + cosine
schedule and logit-scale clamp, and saved in the clip_core checkpoint format (``clip_core.load``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from clip_core import CLIP, CLIPConfig, TextConfig, Tokenizer, VisionConfig, save_checkpoint
from clip_core.data.imageio import load_image_file
from clip_core.train import build_optimizer, clamp_logit_scale, clip_loss, lr_at


@dataclass(frozen=True)
class PlantedTrainConfig:
    """Architecture and schedule of the tiny planted-bias model."""

    steps: int = 300
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 20
    seed: int = 0
    vocab_size: int = 700
    image_size: int = 32
    patch_size: int = 8
    width: int = 64
    layers: int = 2
    embed_dim: int = 64
    context_length: int = 24
    progress: bool = True

    def model_config(self, vocab_size: int) -> CLIPConfig:
        """The CLIP architecture for a vocabulary size."""
        return CLIPConfig(embed_dim=self.embed_dim,
                          vision=VisionConfig(image_size=self.image_size, width=self.width, layers=self.layers,
                                              patch_size=self.patch_size, heads=2),
                          text=TextConfig(context_length=self.context_length, vocab_size=vocab_size,
                                          width=self.width, heads=2, layers=self.layers)).validate()


def read_caption_table(path: Path) -> pd.DataFrame:
    """A path,caption table; paths resolved against its folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"caption table not found: {path}")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("path", "caption") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected path,caption")
    if table.empty:
        raise ValueError(f"{path}: no rows")
    return table.assign(path=[str(path.parent / p) for p in table["path"]])


def train_caption_model(captions_path: Path, out_dir: Path, config: PlantedTrainConfig = PlantedTrainConfig(),
                        extra: dict | None = None) -> Path:
    """Train on the caption table and write out_dir/checkpoint.pt (returned as is when it exists)."""
    out_dir = Path(out_dir)
    checkpoint = out_dir / "checkpoint.pt"
    if checkpoint.is_file():
        return checkpoint
    table = read_caption_table(captions_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread, above all on a busy machine
    try:
        model, losses = _train(table, config)
    finally:
        torch.set_num_threads(threads)
    if not np.isfinite(losses[-1]):
        raise FloatingPointError(f"planted-bias model: loss became {losses[-1]}")
    save_checkpoint(checkpoint, model.eval(), extra={"planted_training": {
        **asdict(config), "captions": str(captions_path), "first_loss": losses[0],
        "final_loss": float(np.mean(losses[-20:])), **(extra or {})}})
    return checkpoint


def _train(table: pd.DataFrame, config: PlantedTrainConfig) -> tuple[CLIP, list[float]]:
    """The training loop: a seeded batch of caption rows per step."""
    torch.manual_seed(config.seed)
    tokenizer = Tokenizer.train(sorted(set(table["caption"])), vocab_size=config.vocab_size,
                                context_length=config.context_length)
    model = CLIP(config.model_config(tokenizer.vocab_size), "gelu")
    model.tokenizer = tokenizer
    transform = model.preprocess(train=False)
    unique_paths = list(dict.fromkeys(table["path"]))
    pixels = torch.stack([transform(load_image_file(p)) for p in unique_paths])
    image_index = torch.from_numpy(pd.Index(unique_paths).get_indexer(table["path"]))
    tokens = model.tokenize(list(table["caption"]))
    optimizer = build_optimizer(model, config.lr, config.weight_decay)
    rng = np.random.default_rng(config.seed)
    model.train()
    losses = []
    for step in tqdm(range(config.steps), desc="planted-bias model", unit="step", disable=not config.progress):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config.lr, config.warmup_steps, config.steps)
        rows = torch.from_numpy(rng.choice(len(table), size=min(config.batch_size, len(table)), replace=False))
        images = model.encode_image(pixels[image_index[rows]], normalize=True)
        texts = model.encode_text(tokens[rows], normalize=True)
        loss = clip_loss(images, texts, model.logit_scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        clamp_logit_scale(model)
        losses.append(float(loss.detach()))
    return model, losses
