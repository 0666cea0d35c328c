"""Classification sets for zero-shot and linear-probe evaluation.

Public API
----------
- ``ClassificationSet(source, classnames, templates, label_map, name)``: ``classnames`` are the
  display names used in prompts (label-index order); iterating yields ``Example`` objects whose
  ``label`` is the display class name (examples without a label are skipped, recorded with reason
  ``"no label"``); ``label_index(name) -> int``; ``prompts() -> list[list[str]]`` (per class, per
  template); ``skipped``; ``shards()`` -> ``ClassificationShard`` wrappers; ``len()`` where known.
- ``open_classification(location, format=None, *, classnames=None, templates=None,
  slice_size=10_000) -> ClassificationSet``.
  ``classnames``: None (the sorted labels found; synthetic tasks use theirs), a list, a
  label -> name dict, a registry name (``cifar10``...) or a .txt/.json file.  A list is matched to
  the labels found as: every label is in the list (kept in list order); else every label is an
  integer index into the list; else the list is as long as the sorted labels and maps them in
  order (ImageFolder convention, e.g. WordNet ids -> names). ``templates``: None (the synthetic
  task's templates, else the 80 ImageNet templates), a list, a registry name or a file.
- ``resolve_label_map(labels, classnames, where) -> tuple[list[str], dict[str, str]]``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from .base import DEFAULT_SLICE_SIZE, ImageSource, Shard, iter_unique_examples, skipped_in
from .records import Example, SkipRecord
from .sources import open_source
from .templates import (
    CLASSNAME_SETS, IMAGENET_TEMPLATES, fill, get_classnames, load_classnames, resolve_templates,
)


def resolve_label_map(
    labels: Sequence[str],
    classnames: Sequence[str] | dict[str, str] | None,
    where: str,
) -> tuple[list[str], dict[str, str]]:
    """(display class names, raw label -> display name) for the labels found in a source."""
    labels = sorted(set(labels))
    if classnames is None:
        if not labels:
            raise ValueError(f"{where}: no labels found (images need class sub-folders or a 'label' column)")
        return list(labels), {lab: lab for lab in labels}
    if isinstance(classnames, dict):
        missing = [lab for lab in labels if lab not in classnames]
        if missing:
            raise ValueError(f"{where}: labels {missing[:5]} are missing from the class-name mapping")
        names = list(dict.fromkeys(classnames.values()))
        return names, {lab: classnames[lab] for lab in labels}
    names = [str(c) for c in classnames]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: duplicate class names")
    if all(lab in names for lab in labels):
        return names, {lab: lab for lab in labels}
    if labels and all(lab.isdigit() and int(lab) < len(names) for lab in labels):
        return names, {lab: names[int(lab)] for lab in labels}
    if len(labels) == len(names):
        return names, dict(zip(labels, names))
    unknown = [lab for lab in labels if lab not in names][:5]
    raise ValueError(
        f"{where}: labels {unknown} are not among the {len(names)} class names, are not indices "
        f"into them, and there are {len(labels)} distinct labels"
    )


class ClassificationShard:
    """A shard of a classification set: labelled examples with display class names."""

    def __init__(self, shard: Shard, label_map: dict[str, str]) -> None:
        self.shard = shard
        self.name = shard.name
        self.location = shard.location
        self.label_map = label_map
        self.no_label: list[SkipRecord] = []

    def __iter__(self) -> Iterator[Example]:
        self.no_label = []
        for ex in self.shard:
            if ex.label is None:
                self.no_label.append(SkipRecord(ex.id, ex.location or self.location, "no label"))
                continue
            if ex.label not in self.label_map:
                raise ValueError(f"{ex.location or self.location}: example {ex.id!r} has unknown label {ex.label!r}")
            ex.label = self.label_map[ex.label]
            yield ex

    @property
    def skipped(self) -> list[SkipRecord]:
        """Unreadable and unlabelled examples of the latest iteration."""
        return list(self.shard.skipped) + list(self.no_label)


class ClassificationSet:
    """Labelled images with class names and prompt templates."""

    def __init__(
        self,
        source: ImageSource,
        classnames: Sequence[str],
        templates: Sequence[str],
        label_map: dict[str, str],
        name: str = "",
    ) -> None:
        self.source = source
        self.classnames = list(classnames)
        self.templates = list(templates)
        self.label_map = dict(label_map)
        self.name = name or source.location
        self._index = {c: i for i, c in enumerate(self.classnames)}
        self._shards: list[ClassificationShard] | None = None

    def label_index(self, classname: str) -> int:
        """Index of a display class name."""
        try:
            return self._index[classname]
        except KeyError:
            raise ValueError(f"{self.name}: unknown class {classname!r}") from None

    def prompts(self) -> list[list[str]]:
        """Prompt texts per class (outer, class order) and template (inner)."""
        return [[fill(t, c) for t in self.templates] for c in self.classnames]

    def shards(self) -> list[ClassificationShard]:
        """Labelled wrappers of the source's shards."""
        if self._shards is None:
            self._shards = [ClassificationShard(s, self.label_map) for s in self.source.shards()]
        return self._shards

    def __iter__(self) -> Iterator[Example]:
        yield from iter_unique_examples(self.shards())

    def __len__(self) -> int:
        return len(self.source)

    @property
    def skipped(self) -> list[SkipRecord]:
        """Examples skipped in the latest iteration (unreadable or unlabelled)."""
        return skipped_in(self.shards())


def _classnames_arg(spec, where: str):
    """Resolve the ``classnames`` argument (list, dict, registry name or file)."""
    if spec is None or isinstance(spec, (list, tuple, dict)):
        return spec
    text = os.fspath(spec)
    if os.path.exists(text) or text.endswith((".txt", ".json")):
        return load_classnames(text)
    if text in CLASSNAME_SETS or text.startswith("synthetic:"):
        return get_classnames(text)
    raise ValueError(f"{where}: class names {text!r} are neither a file nor a built-in set {sorted(CLASSNAME_SETS)}")


def open_classification(
    location: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002
    *,
    classnames=None,
    templates=None,
    slice_size: int = DEFAULT_SLICE_SIZE,
) -> ClassificationSet:
    """Open a labelled image source with class names and prompt templates."""
    source = open_source(location, format, slice_size=slice_size)
    where = os.fspath(location)
    task_templates = getattr(source, "templates", None)
    if source.kind == "synthetic" and task_templates is None:
        raise ValueError(f"{where}: the synthetic training stream has no labels; use synthetic:<task>")
    labels = source.labels()
    given = _classnames_arg(classnames, where)
    if given is None and task_templates:
        given = list(source.classnames or [])  # synthetic tasks keep their own class order
    names, label_map = resolve_label_map(labels, given, where)
    if templates is None:
        chosen = list(task_templates) if task_templates else list(IMAGENET_TEMPLATES)
    else:
        chosen = resolve_templates(templates)
    return ClassificationSet(source, names, chosen, label_map, name=where)
