"""The settings an overlap output folder depends on, in one place, checked before any work is resumed.

`overlap_settings` lists what determines the search results in ``OUT/shards/`` and the embedded
evaluation sets in ``OUT/eval/``: the fingerprints of the pre-training source and of every
evaluation set (by name), the detector's hash (when either side is images), the search
parameters and the verification parameters. Thresholds, labels and target precision are not among them: they are re-applied to
the stored search results on every run. `check_overlap_settings` records them as
``OUT/overlap.settings.json`` on the first run and stops a rerun whose settings differ (see
`clip_core.run_settings.record_or_check`); with ``overwrite`` it first clears `OVERLAP_OUTPUTS`
(``labels.csv`` from `clip-audit inspect` is kept).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from clip_core.run_settings import RunSettings, fingerprint_source, record_or_check
from detector.descriptor_files import is_descriptor_dir
from audit.inspect_page import SOURCES_FILE
from audit.overlap_pipeline import FAILED_SHARDS_FILE, MATCHES_FILE, NEIGHBOURS_FILE, OVERLAP_TABLE_FILE, THRESHOLDS_FILE
from audit.overlap_search import SearchConfig

OVERLAP_STAGE = "overlap"
SUMMARY_FILE = "overlap_summary.json"
OVERLAP_OUTPUTS = ("shards", "skipped", "eval", NEIGHBOURS_FILE, MATCHES_FILE, THRESHOLDS_FILE, OVERLAP_TABLE_FILE,
                   SUMMARY_FILE, SOURCES_FILE, FAILED_SHARDS_FILE)


def search_parameters(search: SearchConfig) -> dict[str, Any]:
    """The search parameters that change results (the block size only changes memory use)."""
    parameters: dict[str, Any] = {"top_k": search.top_k, "index": search.index}
    if search.index == "ivf":
        parameters.update(ivf_lists=search.ivf_lists, ivf_probe=search.ivf_probe)
    return parameters


def overlap_settings(pretraining: str, eval_sources: Mapping[str, str], detector: str, search: SearchConfig,
                     verification: Mapping[str, Any] | None = None) -> RunSettings:
    """What an overlap run's results depend on: input fingerprints, detector hash, search and verification parameters."""
    inputs = {"pretraining": fingerprint_source(pretraining)}
    inputs.update({f"eval:{name}": fingerprint_source(source) for name, source in eval_sources.items()})
    uses_images = not all(is_descriptor_dir(Path(s)) for s in [pretraining, *eval_sources.values()])
    model = None
    if uses_images:
        from audit.overlap_images import cached_detector
        from detector.embed import detector_fingerprint

        model = detector_fingerprint(cached_detector(detector))
    parameters = {**search_parameters(search), "verification": dict(verification or {})}
    return RunSettings(inputs=inputs, model=model, parameters=parameters)


def check_overlap_settings(out_dir: Path, pretraining: str, eval_sources: Mapping[str, str], detector: str,
                           search: SearchConfig, verification: Mapping[str, Any] | None = None,
                           overwrite: bool = False) -> RunSettings:
    """Record this run's settings in OUT, or stop when they differ from the recorded ones (see module docstring)."""
    settings = overlap_settings(pretraining, eval_sources, detector, search, verification)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    record_or_check(out_dir, OVERLAP_STAGE, settings, overwrite, OVERLAP_OUTPUTS)
    return settings
