"""The built-in synthetic captioned-image world: a training stream and classification tasks.

Every image is a pure function of (world seed, seed space, index): the training stream and each
task draw from separate seed spaces, so evaluation images are not training images (unless planted
on purpose). Images are ``size`` x ``size`` RGB (default 64).

Public API
----------
- ``SyntheticCaptionStream(seed=0, size=64, length=None, constraints=None, slice_size=10_000)``:
  ``stream[i]`` -> ``Example(id=f"train/{i:09d}", image, label=None, caption)``; the same index
  always gives the same image and caption. ``iter(stream)`` runs over ``range(length)`` (forever
  when ``length`` is None). ``stream.scene(i)``, ``stream.caption(i)``, ``stream.image(i)``.
  It is an ``ImageSource`` (``kind == "synthetic"``; shards need a finite length).
- ``stream.plant(examples, *, positions=None, rate=None, copies=None, augment=None, horizon=None,
  seed=0, caption=None) -> list[PlantRecord]``: replace stream items by evaluation images
  (optionally augmented: ``augment(image)`` or ``augment(image, rng: random.Random)``, seeded per
  position so it is deterministic). Give exactly one of ``positions`` (explicit indices; eval
  images assigned cyclically), ``rate`` (fraction of ``horizon`` indices, chosen at random) or
  ``copies`` (copies of every eval image, at random indices; the default is 1 copy). ``horizon``
  defaults to the stream length. The planted caption is ``caption(example)``, else the eval
  example's caption, else "a photo of a {label}.", else the stream's own caption.
  ``stream.plants`` (sorted list of ``PlantRecord(train_index, train_id, eval_id, copy)``),
  ``stream.planted_at(i)``, ``stream.plants_table()`` (list of dicts), ``stream.write_plants_csv(path)``,
  ``stream.clear_plants()``.
- ``SyntheticTask(name, n=None, seed=0, size=64, slice_size=10_000)``: ``kind == "synthetic"``;
  ``task[i]`` -> ``Example(id=f"{name}/{i:06d}", image, label=class name, caption)``; classes are
  balanced (class ``i % num_classes``); ``n`` defaults to 50 per class. ``.classnames``,
  ``.templates``, ``.spec``, ``.scene(i)``.
- ``synthetic_task(name, **kwargs) -> SyntheticTask`` and ``list_synthetic_tasks() -> list[str]``.
- ``parse_synthetic_location(text) -> tuple[str, dict]`` and ``open_synthetic(text, slice_size)``:
  ``synthetic``, ``synthetic:train?n=10000&seed=0&size=64`` (a finite training stream) or
  ``synthetic:<task>?n=500&seed=0&size=64``.
"""
from __future__ import annotations

import csv
import inspect
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from PIL import Image

from .base import DEFAULT_SLICE_SIZE, ImageSource, Shard
from .records import Example, Record
from .synthetic_captions import caption_scene
from .synthetic_scene import Scene, SceneConstraints, render_scene, sample_scene
from .synthetic_tasks import TASKS, SyntheticTaskSpec, constraints_for, get_task_spec

_SALT = "clip-audit-synthetic-v1"
DEFAULT_STREAM_LENGTH = 10_000
DEFAULT_PER_CLASS = 50


def _rng(seed: int, space: str, index: int) -> random.Random:
    """The random generator of one item of one seed space."""
    return random.Random(f"{_SALT}:{seed}:{space}:{index}")


class _IndexShard(Shard):
    """A contiguous slice of an indexable synthetic source."""

    def __init__(self, name: str, source: "_IndexedSource", start: int, stop: int) -> None:
        super().__init__(name, source.location)
        self.source = source
        self.start = start
        self.stop = stop

    @property
    def num_examples(self) -> int:
        """Number of items in the slice."""
        return self.stop - self.start

    def _iter_examples(self) -> Iterator[Example]:
        for i in range(self.start, self.stop):
            yield self.source[i]

    def records(self) -> Iterator[Record]:
        """Metadata of the slice (captions without rendering)."""
        for i in range(self.start, self.stop):
            yield self.source.record(i)


class _IndexedSource(ImageSource):
    """Common code of synthetic sources addressed by integer index."""

    kind = "synthetic"
    length: int | None
    slice_size: int

    def __getitem__(self, index: int) -> Example:  # pragma: no cover - abstract
        raise NotImplementedError

    def record(self, index: int) -> Record:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_index(self, index: int) -> int:
        """Validate an index against the length."""
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"synthetic index must be an int, got {type(index).__name__}")
        if index < 0 or (self.length is not None and index >= self.length):
            raise IndexError(f"index {index} out of range for {self.location} (length {self.length})")
        return index

    @property
    def num_examples(self) -> int | None:
        """The length, or None for an endless stream."""
        return self.length

    def _make_shards(self) -> list[Shard]:
        if self.length is None:
            raise ValueError(f"{self.location}: an endless synthetic stream has no shards; give a length")
        return [
            _IndexShard(f"slice-{k:05d}", self, start, min(start + self.slice_size, self.length))
            for k, start in enumerate(range(0, self.length, self.slice_size))
        ]

    def __iter__(self) -> Iterator[Example]:
        if self.length is None:
            i = 0
            while True:
                yield self[i]
                i += 1
        for shard in self.shards():
            yield from shard


@dataclass(frozen=True)
class PlantRecord:
    """One planted evaluation image: where it sits in the training stream."""

    train_index: int
    train_id: str
    eval_id: str
    copy: int


@dataclass
class _Plant:
    record: PlantRecord
    example: Example
    augment: Callable | None
    caption: str
    seed: int


def _call_augment(augment: Callable, image: Image.Image, rng: random.Random) -> Image.Image:
    """Call ``augment(image, rng)`` or ``augment(image)`` depending on its signature."""
    try:
        params = [
            p for p in inspect.signature(augment).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        takes_rng = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
    except (TypeError, ValueError):
        takes_rng = False
    out = augment(image, rng) if takes_rng else augment(image)
    if not isinstance(out, Image.Image):
        raise TypeError(f"augment must return a PIL image, got {type(out).__name__}")
    return out.convert("RGB") if out.mode != "RGB" else out


class SyntheticCaptionStream(_IndexedSource):
    """Deterministic stream of captioned synthetic scenes, with optional planted eval images."""

    def __init__(
        self,
        seed: int = 0,
        size: int = 64,
        length: int | None = None,
        constraints: SceneConstraints | None = None,
        slice_size: int = DEFAULT_SLICE_SIZE,
    ) -> None:
        if length is not None and length <= 0:
            raise ValueError(f"synthetic stream length must be positive, got {length}")
        super().__init__(f"synthetic:train?seed={seed}&size={size}" + (f"&n={length}" if length else ""))
        self.seed = int(seed)
        self.size = int(size)
        self.length = length
        self.constraints = constraints or SceneConstraints()
        self.slice_size = slice_size
        self._plants: dict[int, _Plant] = {}

    def train_id(self, index: int) -> str:
        """The id of stream item ``index``."""
        return f"train/{index:09d}"

    def scene(self, index: int) -> Scene:
        """The (unplanted) scene at ``index``."""
        return sample_scene(_rng(self.seed, "train", self._check_index(index)), self.constraints)

    def _scene_caption(self, index: int) -> tuple[Scene, str]:
        rng = _rng(self.seed, "train", self._check_index(index))
        scene = sample_scene(rng, self.constraints)
        return scene, caption_scene(scene, rng)

    def caption(self, index: int) -> str:
        """The caption of item ``index`` (planted captions included)."""
        plant = self._plants.get(index)
        if plant is not None:
            return plant.caption
        return self._scene_caption(index)[1]

    def image(self, index: int) -> Image.Image:
        """The image of item ``index`` (planted images included)."""
        return self[index].image

    def __getitem__(self, index: int) -> Example:
        index = self._check_index(index)
        plant = self._plants.get(index)
        if plant is not None:
            image = plant.example.image.convert("RGB")
            if plant.augment is not None:
                image = _call_augment(plant.augment, image.copy(), _rng(plant.seed, "plant-aug", index))
            return Example(
                self.train_id(index), image, None, plant.caption,
                f"{self.location}#{index} (planted {plant.record.eval_id})",
            )
        scene, caption = self._scene_caption(index)
        return Example(self.train_id(index), render_scene(scene, self.size), None, caption, f"{self.location}#{index}")

    def record(self, index: int) -> Record:
        """Metadata of item ``index`` without rendering."""
        return Record(self.train_id(index), f"{self.location}#{index}", None, self.caption(index))

    # ---- planting -------------------------------------------------------------------------
    def plant(
        self,
        examples: Iterable[Example],
        *,
        positions: Sequence[int] | None = None,
        rate: float | None = None,
        copies: int | None = None,
        augment: Callable | None = None,
        horizon: int | None = None,
        seed: int = 0,
        caption: Callable[[Example], str] | None = None,
    ) -> list[PlantRecord]:
        """Replace stream items by evaluation images; return the new records (see module doc)."""
        evals = list(examples)
        if not evals:
            raise ValueError("plant: no evaluation examples given")
        if sum(x is not None for x in (positions, rate, copies)) > 1:
            raise ValueError("plant: give only one of positions, rate or copies")
        if positions is not None:
            chosen = [self._check_index(int(p)) for p in positions]
            if len(set(chosen)) != len(chosen):
                raise ValueError("plant: positions contain duplicates")
        else:
            horizon = horizon if horizon is not None else self.length
            if horizon is None:
                raise ValueError("plant: an endless stream needs horizon= to choose random positions")
            if self.length is not None and horizon > self.length:
                raise ValueError(f"plant: horizon {horizon} exceeds the stream length {self.length}")
            if rate is not None:
                if not 0 < rate <= 1:
                    raise ValueError(f"plant: rate must be in (0, 1], got {rate}")
                n = max(1, round(rate * horizon))
            else:
                n = (1 if copies is None else int(copies)) * len(evals)
                if n <= 0:
                    raise ValueError(f"plant: copies must be positive, got {copies}")
            free = horizon - sum(1 for i in self._plants if i < horizon)
            if n > free:
                raise ValueError(f"plant: {n} positions requested but only {free} free below {horizon}")
            rng = _rng(seed, "plant-positions", len(self._plants))
            chosen, taken = [], set(self._plants)
            while len(chosen) < n:
                for p in rng.sample(range(horizon), min(n - len(chosen), horizon)):
                    if p not in taken:
                        taken.add(p)
                        chosen.append(p)
                        if len(chosen) == n:
                            break
        clash = [p for p in chosen if p in self._plants]
        if clash:
            raise ValueError(f"plant: positions already planted: {clash[:5]}")
        new = []
        for j, pos in enumerate(chosen):
            ex = evals[j % len(evals)]
            text = caption(ex) if caption is not None else (
                ex.caption or (f"a photo of a {ex.label}." if ex.label else self._scene_caption(pos)[1])
            )
            rec = PlantRecord(pos, self.train_id(pos), ex.id, j // len(evals))
            self._plants[pos] = _Plant(rec, ex, augment, text, seed)
            new.append(rec)
        return sorted(new, key=lambda r: r.train_index)

    @property
    def plants(self) -> list[PlantRecord]:
        """All planted records, sorted by training index."""
        return [self._plants[i].record for i in sorted(self._plants)]

    def planted_at(self, index: int) -> PlantRecord | None:
        """The plant record at ``index``, or None."""
        plant = self._plants.get(index)
        return plant.record if plant else None

    def clear_plants(self) -> None:
        """Remove every planted image."""
        self._plants.clear()

    def plants_table(self) -> list[dict]:
        """Plant records as dicts (train_index, train_id, eval_id, copy)."""
        return [
            {"train_index": r.train_index, "train_id": r.train_id, "eval_id": r.eval_id, "copy": r.copy}
            for r in self.plants
        ]

    def write_plants_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the plant records to a CSV file and return its path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["train_index", "train_id", "eval_id", "copy"])
            writer.writeheader()
            writer.writerows(self.plants_table())
        return out


class SyntheticTask(_IndexedSource):
    """A synthetic classification task (``synthetic:<name>``)."""

    def __init__(
        self,
        name: str,
        n: int | None = None,
        seed: int = 0,
        size: int = 64,
        slice_size: int = DEFAULT_SLICE_SIZE,
    ) -> None:
        self.spec: SyntheticTaskSpec = get_task_spec(name)
        self.name = self.spec.name
        length = DEFAULT_PER_CLASS * len(self.spec.classnames) if n is None else int(n)
        if length <= 0:
            raise ValueError(f"synthetic task size must be positive, got {n}")
        super().__init__(f"synthetic:{self.name}?n={length}&seed={seed}&size={size}")
        self.seed = int(seed)
        self.size = int(size)
        self.length = length
        self.slice_size = slice_size

    @property
    def classnames(self) -> list[str]:
        """Class names, in label-index order."""
        return list(self.spec.classnames)

    @property
    def templates(self) -> list[str]:
        """Prompt templates suited to this task ('{}' is the class name)."""
        return list(self.spec.templates)

    def label_index(self, index: int) -> int:
        """Class index of item ``index`` (balanced round robin)."""
        return self._check_index(index) % len(self.spec.classnames)

    def _scene_caption(self, index: int) -> tuple[Scene, str]:
        rng = _rng(self.seed, f"task:{self.name}", self._check_index(index))
        scene = sample_scene(rng, constraints_for(self.spec, self.label_index(index)))
        return scene, caption_scene(scene, rng)

    def scene(self, index: int) -> Scene:
        """The scene of item ``index``."""
        return self._scene_caption(index)[0]

    def __getitem__(self, index: int) -> Example:
        scene, caption = self._scene_caption(index)
        return Example(
            f"{self.name}/{index:06d}",
            render_scene(scene, self.size),
            self.spec.classnames[self.label_index(index)],
            caption,
            f"{self.location}#{index}",
        )

    def record(self, index: int) -> Record:
        """Metadata of item ``index`` without rendering."""
        return Record(
            f"{self.name}/{index:06d}", f"{self.location}#{index}",
            self.spec.classnames[self.label_index(index)], self._scene_caption(index)[1],
        )


def list_synthetic_tasks() -> list[str]:
    """Names of the synthetic classification tasks."""
    return sorted(TASKS)


def synthetic_task(name: str, **kwargs) -> SyntheticTask:
    """Build a synthetic task by name (``colors`` or ``synthetic:colors``)."""
    return SyntheticTask(name, **kwargs)


_PARAMS = {"n": int, "seed": int, "size": int}


def parse_synthetic_location(text: str) -> tuple[str, dict[str, int]]:
    """Split ``synthetic[:name][?n=..&seed=..&size=..]`` into (name, params); name 'train' for the stream."""
    if not text.startswith("synthetic"):
        raise ValueError(f"not a synthetic location: {text!r}")
    head, _, query = text.partition("?")
    name = head.split(":", 1)[1] if ":" in head else "train"
    name = name or "train"
    params: dict[str, int] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _PARAMS:
            raise ValueError(f"{text!r}: unknown synthetic parameter {key!r}; known: {sorted(_PARAMS)}")
        try:
            params[key] = _PARAMS[key](value)
        except ValueError as exc:
            raise ValueError(f"{text!r}: parameter {key!r} must be an integer, got {value!r}") from exc
    if name != "train":
        get_task_spec(name)
    return name, params


def open_synthetic(text: str, slice_size: int = DEFAULT_SLICE_SIZE) -> SyntheticCaptionStream | SyntheticTask:
    """Open a synthetic location as an image source (training stream or task)."""
    name, params = parse_synthetic_location(text)
    if name == "train":
        return SyntheticCaptionStream(
            seed=params.get("seed", 0), size=params.get("size", 64),
            length=params.get("n", DEFAULT_STREAM_LENGTH), slice_size=slice_size,
        )
    return SyntheticTask(name, n=params.get("n"), seed=params.get("seed", 0),
                         size=params.get("size", 64), slice_size=slice_size)
