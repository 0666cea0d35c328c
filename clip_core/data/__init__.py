"""Image sources, caption and classification readers, prompt templates, and the synthetic world.

Main entry points (see each module's docstring for the full API):

- ``open_source(location, format=None, *, slice_size=10_000) -> ImageSource`` (``sources``)
- ``open_captions(...) -> CaptionPairs`` (``captions``)
- ``open_classification(..., classnames=None, templates=None) -> ClassificationSet``
  (``classification``)
- ``get_templates(name)``, ``get_classnames(name)``, ``load_templates(path)``,
  ``load_classnames(path)``, ``IMAGENET_TEMPLATES``, ``IMAGENET_7_TEMPLATES`` (``templates``)
- ``SyntheticCaptionStream``, ``SyntheticTask``, ``PlantRecord`` (``synthetic``)
- ``write_image_folder``, ``write_csv_manifest``, ``write_webdataset``, ``write_img2dataset``
  (``writers``)
"""
from __future__ import annotations

from .base import ImageSource, Shard
from .captions import CaptionPairs, open_captions
from .classification import ClassificationSet, open_classification
from .records import DuplicateIdError, Example, Record, SkipRecord
from .sources import FORMATS, SourceConfig, detect_format, open_source
from .synthetic import (
    PlantRecord, SyntheticCaptionStream, SyntheticTask, list_synthetic_tasks, synthetic_task,
)
from .templates import (
    IMAGENET_7_TEMPLATES, IMAGENET_TEMPLATES, get_classnames, get_templates, load_classnames,
    load_templates, resolve_templates,
)
from .writers import (
    WriteResult, write_csv_manifest, write_image_folder, write_img2dataset, write_webdataset,
)

__all__ = [
    "ImageSource", "Shard", "Example", "Record", "SkipRecord", "DuplicateIdError",
    "FORMATS", "SourceConfig", "detect_format", "open_source",
    "CaptionPairs", "open_captions", "ClassificationSet", "open_classification",
    "PlantRecord", "SyntheticCaptionStream", "SyntheticTask", "list_synthetic_tasks", "synthetic_task",
    "IMAGENET_TEMPLATES", "IMAGENET_7_TEMPLATES", "get_templates", "get_classnames",
    "load_templates", "load_classnames", "resolve_templates",
    "WriteResult", "write_image_folder", "write_csv_manifest", "write_webdataset", "write_img2dataset",
]
