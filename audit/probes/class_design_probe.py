"""Probe 3, class design (Radford et al. 2021, Table 7): the same images under two label sets.

By default the denigration label set and the same set plus ``child``. For every harmful category
and group the two rates come from the same images, so their difference (second minus first) gets
Newcombe's (1998) paired interval (method 10) and the exact McNemar test
(``audit.probes.paired_stats``); p-values are also Holm-adjusted over the whole table
(``audit.stats.adjust_pvalues``). Writes ``differences.csv`` next to ``rates.csv`` (which has a
``label_set`` column).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from audit.probes.denigration_probe import classify, combined_category, disaggregate_outcomes, harmful_outcomes
from audit.probes.disaggregated import rates_table
from audit.probes.fairface_data import FairFaceSplit
from audit.probes.groupings import groupings
from audit.probes.label_sets import HARMFUL_CATEGORIES, LabelSet, default_label_set, with_child
from audit.probes.paired_stats import paired_difference
from audit.probes.provenance import ProbeModel, as_probe_model, build_provenance
from audit.probes.result import ProbeResult
from audit.probes.split_features import encode_split
from audit.stats import adjust_pvalues

PROBE = "class-design"
DIFFERENCE_COLUMNS = ("category", "attribute", "group", "label_set_first", "label_set_second", "n",
                      "count_first", "count_second", "rate_first", "rate_second", "difference", "ci_low", "ci_high",
                      "p_value", "p_holm")


@dataclass(frozen=True)
class ClassDesignConfig:
    """Settings of the class-design probe."""

    confidence: float = 0.95
    seed: int = 0
    batch_size: int = 64
    progress: bool = True
    feature_cache: str | None = None  # folder for reusable image features (see image_features)
    harmful_categories: tuple[str, ...] = HARMFUL_CATEGORIES


def differences_table(first: dict[str, np.ndarray], second: dict[str, np.ndarray], table: pd.DataFrame, schema,
                      names: tuple[str, str], confidence: float) -> pd.DataFrame:
    """One row per (category, attribute, group): both rates, the paired difference, its interval and test."""
    rows = []
    for category in first:
        for grouping in [*groupings(table, schema), None]:
            if grouping is None:
                members = {"overall": np.ones(len(table), dtype=bool)}
                attribute = "overall"
            else:
                labels = np.asarray(grouping.groups, dtype=object)
                members = {g: labels == g for g in grouping.order}
                attribute = grouping.attribute
            for group, mask in members.items():
                if not mask.any():
                    continue
                paired = paired_difference(second[category][mask], first[category][mask], confidence)
                rows.append({"category": category, "attribute": attribute, "group": group,
                             "label_set_first": names[0], "label_set_second": names[1], "n": paired.n,
                             "count_first": paired.both + paired.only_second,
                             "count_second": paired.both + paired.only_first,
                             "rate_first": paired.rate_second, "rate_second": paired.rate_first,
                             "difference": paired.difference, "ci_low": paired.ci_low, "ci_high": paired.ci_high,
                             "p_value": paired.p_value})
    frame = pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS[:-1]))
    frame["p_holm"] = adjust_pvalues(frame["p_value"].to_numpy(), "holm")
    return frame


def run_class_design_probe(model: "ProbeModel | object", dataset: FairFaceSplit,
                           label_sets: tuple[LabelSet, LabelSet] | None = None,
                           config: ClassDesignConfig = ClassDesignConfig()) -> ProbeResult:
    """Harmful-category rates under two label sets on the same images, with paired differences."""
    probe_model = as_probe_model(model)
    if label_sets is None:
        base = default_label_set(dataset.schema)
        label_sets = (base, with_child(base))
    first_set, second_set = label_sets
    if first_set.name == second_set.name:
        raise ValueError(f"class design: both label sets are named {first_set.name!r}")
    encoded = encode_split(probe_model.model, dataset, config.batch_size, config.progress,
                           config.feature_cache, probe_model.weights_sha256)
    outcomes = []
    rates = []
    predictions = encoded.table[["file"]].copy()
    for label_set in label_sets:
        predicted = classify(probe_model.model, encoded, label_set)
        found = harmful_outcomes(predicted, label_set, config.harmful_categories)
        found = {k: v for k, v in found.items() if not k.startswith("label:")}
        outcomes.append(found)
        rates += [r.with_extra(label_set=label_set.name)
                  for r in disaggregate_outcomes(found, encoded.table, dataset.schema, config.confidence)]
        predictions[f"prediction[{label_set.name}]"] = [label_set.labels[i] for i in predicted]
    differences = differences_table(outcomes[0], outcomes[1], encoded.table, dataset.schema,
                                    (first_set.name, second_set.name), config.confidence)
    combined = combined_category(config.harmful_categories)
    overall = differences[(differences.attribute == "overall") & (differences.category == combined)].iloc[0]
    summary = {"n_images": len(encoded.table), "skipped_images": len(encoded.features.skipped),
               "split": dataset.split, "label_sets": [first_set.name, second_set.name],
               "overall_difference": {k: overall[k] for k in ("rate_first", "rate_second", "difference", "ci_low",
                                                             "ci_high", "p_value")},
               "significant_differences_holm_0_05": int((differences["p_holm"] < 0.05).sum())}
    provenance = build_provenance(PROBE, probe_model, {"eval": encoded.data_entry()},
                                  {s.name: {"template": s.template, "prompts": s.prompts()} for s in label_sets},
                                  {"first": first_set.to_dict(), "second": second_set.to_dict()}, config.seed,
                                  asdict(config))
    return ProbeResult(probe=PROBE, rates=rates_table(PROBE, rates), disaggregated=tuple(rates), summary=summary,
                       provenance=provenance, tables={"differences": differences, "predictions": predictions},
                       warnings=tuple(encoded.warnings()))
