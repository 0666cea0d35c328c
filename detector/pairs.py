"""The training stream: pairs of augmented views of each image, split over workers and processes, resumable."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from detector.augment import TrainAugment
from clip_core.train.toolkit import world
from detector.sources import open_images


def batches_already_done_by(worker: int, workers: int, batches_done: int) -> int:
    """How many of the first `batches_done` batches came from `worker` (DataLoader takes workers round-robin)."""
    return len(range(worker, batches_done, workers))


class PairStream(IterableDataset):
    """Yields (view1, view2) uint8 (H, W, 3) tensors for every image (or tile) of the source, in a seeded epoch order.

    Each image's augmentations are seeded by (seed, epoch, stream, position), so skipping the
    batches done before a resume reproduces exactly what an uninterrupted run would have seen.
    """

    def __init__(self, images: str, augment: TrainAugment, seed: int, epoch: int, batch_size: int,
                 skip_batches: int = 0, shuffle_buffer: int = 512, format: str | None = None) -> None:
        super().__init__()
        if batch_size % augment.tiles_per_image:
            raise ValueError(f"batch size {batch_size} must be a multiple of tiles_per_image {augment.tiles_per_image}")
        self.images = images
        self.augment = augment
        self.seed = seed
        self.epoch = epoch
        self.batch_size = batch_size
        self.skip_batches = skip_batches
        self.shuffle_buffer = max(1, shuffle_buffer)
        self.format = format

    def _stream_index(self) -> tuple[int, int, int, int]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, size = world()
        return rank * nw + wid, size * nw, wid, nw

    def _examples(self, stream: int, streams: int) -> Iterator:
        source = open_images(self.images, format=self.format)
        shards = source.shards()
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(shards))
        if len(shards) >= streams:
            for i in order[stream::streams]:
                yield from shards[int(i)]
        else:  # fewer shards than streams: every stream reads all, keeps every streams-th example
            k = 0
            for i in order:
                for ex in shards[int(i)]:
                    if k % streams == stream:
                        yield ex
                    k += 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        stream, streams, wid, nw = self._stream_index()
        rank, _ = world()
        skip = batches_already_done_by(wid, nw, self.skip_batches) * self.batch_size
        shuffle_rng = np.random.default_rng([self.seed, self.epoch, stream, 1])
        buffer: list = []
        position = 0

        per_example = self.augment.tiles_per_image
        skip_examples = skip // per_example

        def emit(ex, partner):  # noqa: ANN202 - the pairs of one example (one per tile), or None when skipped
            nonlocal position
            pos = position
            position += 1
            if pos < skip_examples:
                return None
            rng = np.random.default_rng([self.seed, self.epoch, stream, pos])
            other = partner.image if partner is not None else None
            pairs = []
            for base in self.augment.base_images(ex.image, rng, other):
                v1 = np.asarray(self.augment(base, rng, other=other), dtype=np.uint8)
                v2 = np.asarray(self.augment(base, rng, other=other), dtype=np.uint8)
                pairs.append((torch.from_numpy(v1.copy()), torch.from_numpy(v2.copy())))
            return pairs

        def draw():  # noqa: ANN202 - one random example out of the buffer, emitted with a random partner
            j = int(shuffle_rng.integers(len(buffer)))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            chosen = buffer.pop()
            partner = buffer[int(shuffle_rng.integers(len(buffer)))] if buffer else None
            return emit(chosen, partner)

        for ex in self._examples(stream, streams):
            buffer.append(ex)
            if len(buffer) >= self.shuffle_buffer:
                yield from draw() or ()
        while buffer:
            yield from draw() or ()
