"""Forward throughput of clip_core vs open_clip on the same architecture, weights and batch (CPU by default).

Usage: python bench/forward_throughput.py [--model ViT-B-32] [--batch 16] [--repeats 5] [--threads 2]
Prints images/s and texts/s for both libraries and the ratio clip_core / open_clip.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from typing import Callable, Dict, List

import torch

CAPTIONS = [
    "a photo of a cat sitting on a wooden table",
    "two dogs running on the beach at sunset",
    "a red double-decker bus in a busy London street",
    "close-up of a bowl of ramen with an egg and green onions",
    "a man riding a bicycle past a row of colourful houses",
    "aerial view of a river winding through a forest in autumn",
    "a child flying a kite in a park on a windy day",
    "black and white portrait of an old woman smiling",
]


def _time(fn: Callable[[], torch.Tensor], repeats: int) -> List[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def open_clip_model(model_name: str) -> torch.nn.Module:
    """open_clip model with random weights: by name, or built from our config for clip_core-only presets."""
    import open_clip

    from clip_core import get_preset

    if model_name in open_clip.list_models():
        return open_clip.create_model(model_name, pretrained=None)
    cfg = get_preset(model_name)
    v, t = cfg.vision, cfg.text
    vision_cfg = dict(image_size=v.image_size, width=v.width, patch_size=v.patch_size,
                      layers=list(v.layers) if not v.is_vit else v.layers,
                      head_width=(v.width if v.is_vit else v.width * 32) // v.num_heads)
    text_cfg = dict(context_length=t.context_length, vocab_size=t.vocab_size, width=t.width,
                    heads=t.num_heads, layers=t.layers)
    return open_clip.model.CLIP(cfg.embed_dim, vision_cfg, text_cfg, quick_gelu=False)


def run(model_name: str, batch: int, repeats: int, threads: int) -> Dict[str, float]:
    """Measure both libraries, interleaved, and return items/s (median over repeats)."""
    import open_clip

    from clip_core import CLIP, get_preset

    torch.set_num_threads(threads)
    logging.getLogger().setLevel(logging.ERROR)
    torch.manual_seed(0)
    ref = open_clip_model(model_name).eval()
    act = "quick_gelu" if model_name.endswith("-quickgelu") else "gelu"
    ours = CLIP(get_preset(model_name.replace("-quickgelu", "")), act).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    size = ours.image_size
    images = torch.randn(batch, 3, size, size)
    texts = open_clip.tokenize([CAPTIONS[i % len(CAPTIONS)] for i in range(batch)], context_length=ours.context_length)
    with torch.inference_mode():
        diff = (ours.encode_image(images) - ref.encode_image(images)).abs().max().item()
        diff = max(diff, (ours.encode_text(texts) - ref.encode_text(texts)).abs().max().item())
        res: Dict[str, List[float]] = {"clip_core_image": [], "open_clip_image": [],
                                       "clip_core_text": [], "open_clip_text": []}
        for _ in range(repeats):  # interleave so background load hits both equally
            res["open_clip_image"] += _time(lambda: ref.encode_image(images), 1)
            res["clip_core_image"] += _time(lambda: ours.encode_image(images), 1)
            res["open_clip_text"] += _time(lambda: ref.encode_text(texts), 1)
            res["clip_core_text"] += _time(lambda: ours.encode_text(texts), 1)
    rates = {k: batch / statistics.median(v) for k, v in res.items()}
    rates["image_ratio"] = rates["clip_core_image"] / rates["open_clip_image"]
    rates["text_ratio"] = rates["clip_core_text"] / rates["open_clip_text"]
    rates["max_abs_diff"] = diff
    return rates


def train_rate(model_name: str, batch: int, repeats: int, threads: int) -> float:
    """clip_core training samples/s (forward, symmetric cross-entropy, backward, AdamW step)."""
    import torch.nn.functional as F

    from clip_core import CLIP, get_preset, tokenize

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CLIP(get_preset(model_name.replace("-quickgelu", "")), "gelu").train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.2)
    images = torch.randn(batch, 3, model.image_size, model.image_size)
    texts = tokenize([CAPTIONS[i % len(CAPTIONS)] for i in range(batch)], context_length=model.context_length)
    labels = torch.arange(batch)

    def step() -> torch.Tensor:
        logits, _ = model(images, texts)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return batch / statistics.median(_time(step, repeats))


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32", help="open_clip model name (clip_core preset of the same name)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train", action="store_true", help="also time a clip_core training step")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    r = run(args.model, args.batch, args.repeats, args.threads)
    print(f"model={args.model} batch={args.batch} threads={args.threads} repeats={args.repeats} (median)")
    print(f"{'':10s} {'clip_core':>12s} {'open_clip':>12s} {'ratio':>7s}")
    print(f"{'images/s':10s} {r['clip_core_image']:12.1f} {r['open_clip_image']:12.1f} {r['image_ratio']:7.2f}")
    print(f"{'texts/s':10s} {r['clip_core_text']:12.1f} {r['open_clip_text']:12.1f} {r['text_ratio']:7.2f}")
    print(f"max |feature difference| = {r['max_abs_diff']:.2e}")
    if args.train:
        r["clip_core_train_samples_per_s"] = train_rate(args.model, args.batch, args.repeats, args.threads)
        print(f"clip_core training: {r['clip_core_train_samples_per_s']:.1f} samples/s "
              "(forward + backward + AdamW, OpenAI vocabulary)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "batch": args.batch, "threads": args.threads, **r}, f, indent=2)


if __name__ == "__main__":
    main()
