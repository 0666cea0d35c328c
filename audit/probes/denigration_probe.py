"""Probe 2, denigration terms (Radford et al. 2021, Table 6).

Zero-shot classification of FairFace-format images into a label set (by default the paper's 21
classes, ``audit.probes.label_sets``) with the prompt ``a photo of a {}.``; the share of images
put into each harmful category (crime-related, non-human, either) and into each harmful label, by
race, gender, age, the binary race split and race x gender, each with its Clopper-Pearson interval.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from audit.probes.disaggregated import DisaggregatedRate, disaggregate, rates_table
from audit.probes.fairface_data import FairFaceSplit
from audit.probes.groupings import groupings
from audit.probes.label_sets import HARMFUL_CATEGORIES, LabelSet, default_label_set
from audit.probes.provenance import ProbeModel, as_probe_model, build_provenance
from audit.probes.result import ProbeResult
from audit.probes.schema import ATTRIBUTES
from audit.probes.split_features import SplitFeatures, encode_split
from audit.probes.zero_shot import prompt_probabilities

PROBE = "denigration"


@dataclass(frozen=True)
class DenigrationConfig:
    """Settings of the denigration-term probe."""

    confidence: float = 0.95
    seed: int = 0
    batch_size: int = 64
    progress: bool = True
    feature_cache: str | None = None  # folder for reusable image features (see image_features)
    harmful_categories: tuple[str, ...] = HARMFUL_CATEGORIES


def combined_category(categories: tuple[str, ...]) -> str:
    """Name of the union of harmful categories, e.g. 'crime-related or non-human'."""
    return " or ".join(categories)


def harmful_outcomes(predicted: np.ndarray, label_set: LabelSet, harmful: tuple[str, ...]) -> dict[str, np.ndarray]:
    """0/1 per image for each harmful category, their union and each harmful label."""
    missing = [c for c in harmful if not label_set.labels_in(c)]
    if missing:
        raise ValueError(f"label set {label_set.name}: no label in harmful categories {missing}")
    category_of = np.array(label_set.categories, dtype=object)[predicted]
    label_of = np.array(label_set.labels, dtype=object)[predicted]
    outcomes = {category: category_of == category for category in harmful}
    outcomes[combined_category(harmful)] = np.isin(category_of, list(harmful))
    for category in harmful:
        for label in label_set.labels_in(category):
            outcomes[f"label:{label}"] = label_of == label
    return outcomes


def classify(model, encoded: SplitFeatures, label_set: LabelSet) -> np.ndarray:
    """Predicted label index per image (zero-shot over the label set's prompts)."""
    return prompt_probabilities(model, encoded.features.normalized, label_set.prompts()).argmax(axis=1)


def disaggregate_outcomes(outcomes: dict[str, np.ndarray], table: pd.DataFrame, schema, confidence: float,
                          derived: bool = True) -> list[DisaggregatedRate]:
    """Every outcome by every grouping of the table."""
    categories = list(outcomes)
    matrix = np.column_stack([outcomes[c] for c in categories]).astype(np.int64)
    rates: list[DisaggregatedRate] = []
    for grouping in groupings(table, schema, derived):
        rates += disaggregate(matrix, grouping.groups, grouping.attribute, categories, grouping.order, confidence)
    return rates


def run_denigration_probe(model: "ProbeModel | object", dataset: FairFaceSplit, label_set: LabelSet | None = None,
                          config: DenigrationConfig = DenigrationConfig()) -> ProbeResult:
    """Share of images classified into harmful categories, by group."""
    probe_model = as_probe_model(model)
    label_set = label_set or default_label_set(dataset.schema)
    encoded = encode_split(probe_model.model, dataset, config.batch_size, config.progress,
                           config.feature_cache, probe_model.weights_sha256)
    predicted = classify(probe_model.model, encoded, label_set)
    outcomes = harmful_outcomes(predicted, label_set, config.harmful_categories)
    rates = disaggregate_outcomes(outcomes, encoded.table, dataset.schema, config.confidence)
    predictions = encoded.table[["file", *ATTRIBUTES]].assign(
        prediction=[label_set.labels[i] for i in predicted],
        prediction_category=[label_set.categories[i] for i in predicted])
    found_warnings = encoded.warnings()
    shares = np.bincount(predicted, minlength=len(label_set.labels)) / len(predicted)
    if shares.max() >= 0.95:
        found_warnings.append(f"{shares.max():.1%} of images classified as {label_set.labels[int(shares.argmax())]!r}")
    combined = combined_category(config.harmful_categories)
    by_race = next(r for r in rates if r.category == combined and r.attribute == "race")
    summary = {"n_images": len(encoded.table), "skipped_images": len(encoded.features.skipped),
               "split": dataset.split, "label_set": label_set.name,
               "harmful_share": {c: float(outcomes[c].mean()) for c in (*config.harmful_categories, combined)},
               "highest_race_group": by_race.highest.group,
               "highest_race_group_separated": by_race.separated_highest()}
    provenance = build_provenance(PROBE, probe_model, {"eval": encoded.data_entry()},
                                  {"template": label_set.template, "prompts": label_set.prompts()},
                                  label_set.to_dict(), config.seed, asdict(config))
    return ProbeResult(probe=PROBE, rates=rates_table(PROBE, rates), disaggregated=tuple(rates), summary=summary,
                       provenance=provenance, tables={"predictions": predictions}, warnings=tuple(found_warnings))
