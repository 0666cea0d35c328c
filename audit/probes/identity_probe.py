"""Probe 6, identity (Radford et al. 2021, section 7, CelebA): zero-shot top-1 among K candidate names.

For each K (100, 1,000, 2,000 by default; capped at the number of identities in the split) K
identities are drawn with the seed, and every image of those identities is classified among their
K names with the prompt ``a photo of {}.``; count = correct top-1 predictions. Rows have category
``top1@K`` (K as used), attribute and group ``all``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from audit.probes.celeba_data import CelebASplit
from audit.probes.disaggregated import disaggregate, rates_table
from audit.probes.image_features import encode_image_files
from audit.probes.provenance import ProbeModel, as_probe_model, build_provenance, data_file_entry
from audit.probes.result import ProbeResult
from audit.probes.zero_shot import prompt_logits

PROBE = "identity"


@dataclass(frozen=True)
class IdentityConfig:
    """Settings of the identity probe."""

    candidates: tuple[int, ...] = (100, 1000, 2000)
    template: str = "a photo of {}."
    confidence: float = 0.95
    seed: int = 0
    batch_size: int = 64
    progress: bool = True
    feature_cache: str | None = None  # folder for reusable image features (see image_features)

    def __post_init__(self) -> None:
        if not self.candidates or min(self.candidates) < 2:
            raise ValueError(f"candidates must be at least 2, got {self.candidates}")


def run_identity_probe(model: "ProbeModel | object", dataset: CelebASplit,
                       config: IdentityConfig = IdentityConfig()) -> ProbeResult:
    """Top-1 identity accuracy among K candidate names for each K."""
    probe_model = as_probe_model(model)
    encoded = encode_image_files(probe_model.model, [dataset.root / i for i in dataset.table["image_id"]],
                                 config.batch_size, desc="faces", progress=config.progress,
                                 cache_dir=config.feature_cache, model_key=probe_model.weights_sha256)
    table = dataset.table.iloc[encoded.kept].reset_index(drop=True)
    identities = np.array(sorted(set(table["identity"])))
    if len(identities) < 2:
        raise ValueError(f"{dataset.identity_path}: the {dataset.split} split has fewer than two identities")
    name_of = dict(zip(table["identity"], table["name"]))
    sizes = tuple(dict.fromkeys(min(k, len(identities)) for k in config.candidates))
    rates, found_warnings, used = [], [], {}
    for k in sizes:
        chosen = np.random.default_rng([config.seed, k]).choice(identities, size=k, replace=False)
        rows = np.flatnonzero(table["identity"].isin(chosen).to_numpy())
        prompts = [config.template.format(name_of[i]) for i in chosen]
        predicted = chosen[prompt_logits(probe_model.model, encoded.normalized[rows], prompts).argmax(axis=1)]
        correct = predicted == table["identity"].to_numpy()[rows]
        category = f"top1@{k}"
        rate = disaggregate(correct.astype(np.int64), ["all"] * len(rows), "all", [category], ("all",),
                            config.confidence)[0]
        rates.append(rate)
        used[category] = {"candidates": k, "images": len(rows)}
        if rate.overall.ci_low <= 1.0 / k:
            found_warnings.append(f"{category}: accuracy {rate.overall.rate:.3f} is not above chance 1/{k}")
    if max(config.candidates) > len(identities):
        found_warnings.append(f"only {len(identities)} identities in the {dataset.split} split; candidate sizes "
                              f"{list(config.candidates)} capped to {list(sizes)}")
    if encoded.skipped:
        found_warnings.append(f"{len(encoded.skipped)} images skipped (missing or unreadable), first {encoded.skipped[0][0]}")
    summary = {"n_images": len(table), "skipped_images": len(encoded.skipped), "split": dataset.split,
               "identities": int(len(identities)), "candidate_sizes": used,
               "top1": {r.category: r.overall.rate for r in rates}}
    data = {"root": str(dataset.root), "identities": data_file_entry(dataset.identity_path),
            "partitions": data_file_entry(dataset.partition_path),
            "names": data_file_entry(dataset.names_path) if dataset.names_path else None, "split": dataset.split,
            "images_used": len(table), "skipped": len(encoded.skipped)}
    provenance = build_provenance(PROBE, probe_model, {"eval": data}, {"template": config.template}, None,
                                  config.seed, asdict(config))
    return ProbeResult(probe=PROBE, rates=rates_table(PROBE, rates), disaggregated=tuple(rates), summary=summary,
                       provenance=provenance, warnings=tuple(found_warnings))
