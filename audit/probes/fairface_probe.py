"""Probe 1, FairFace classification (Radford et al. 2021, Tables 3-5).

Zero-shot and linear-probe classification of race (7), gender (2) and age (9 bins); accuracy by
every group of race, gender and age, by the binary split (White vs Non-White) and by race x gender.
Zero-shot prompts are the schema's (DataComp's FairFace prompts for the public schema). The linear
probe is the CLIP paper's (appendix A.3): L2-regularised logistic regression on unnormalised image
features of the training split, C chosen by ``clip_core.linear_probe.c_grid_search`` on a stratified
validation part of it, refit on the whole training split. For accuracy categories count = correct
predictions.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from audit.probes.disaggregated import DisaggregatedRate, disaggregate, rates_table
from audit.probes.fairface_data import FairFaceSplit
from audit.probes.groupings import groupings
from audit.probes.provenance import ProbeModel, as_probe_model, build_provenance
from audit.probes.result import ProbeResult
from audit.probes.schema import ATTRIBUTES
from audit.probes.split_features import SplitFeatures, encode_split
from audit.probes.zero_shot import prompt_logits
from clip_core.linear_probe import ProbeConfig, c_grid_search, stratified_split

PROBE = "fairface"
COLLAPSE_SHARE = 0.95


@dataclass(frozen=True)
class FairFaceProbeConfig:
    """Settings of the FairFace classification probe."""

    confidence: float = 0.95
    seed: int = 0
    batch_size: int = 64
    progress: bool = True
    feature_cache: str | None = None  # folder for reusable image features (see image_features)
    linear_probe_max_iter: int = 1000
    linear_probe_steps_per_decade: int = 8


def _fit(x: np.ndarray, y: np.ndarray, c: float, max_iter: int):
    """Logistic regression (lbfgs) as in the CLIP paper's linear probes."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    classifier = LogisticRegression(solver="lbfgs", C=c, max_iter=max_iter)
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(x, y)
    return classifier


def linear_probe_predictions(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                             config: FairFaceProbeConfig) -> tuple[np.ndarray, float]:
    """Predicted class indices of the test features and the C chosen on a validation part of train."""
    if len(np.unique(train_y)) < 2:
        raise ValueError("linear probe: the training split has a single class")
    probe_config = ProbeConfig(max_iter=config.linear_probe_max_iter, seed=config.seed,
                               steps_per_decade=config.linear_probe_steps_per_decade)
    fit_idx, val_idx = stratified_split(train_y, probe_config.val_fraction, config.seed)
    if len(val_idx) == 0:
        raise ValueError("linear probe: too few training images for a validation part")

    def score(c: float) -> float:
        classifier = _fit(train_x[fit_idx], train_y[fit_idx], c, probe_config.max_iter)
        return float(np.mean(classifier.predict(train_x[val_idx]) == train_y[val_idx]))

    best_c, _, _ = c_grid_search(score, probe_config)
    return _fit(train_x, train_y, best_c, probe_config.max_iter).predict(test_x), best_c


def _labels(table: pd.DataFrame, values: tuple[str, ...], attribute: str) -> np.ndarray:
    index = {v: i for i, v in enumerate(values)}
    return np.array([index[v] for v in table[attribute]], dtype=np.int64)


def plausibility_warnings(category: str, predictions: np.ndarray, classes: tuple[str, ...],
                          overall: DisaggregatedRate) -> list[str]:
    """Loud flags: accuracy not above chance, or (nearly) every image put into one class."""
    found = []
    chance = 1.0 / len(classes)
    if overall.overall.ci_low <= chance:
        found.append(f"{category}: accuracy {overall.overall.rate:.3f} (interval from {overall.overall.ci_low:.3f}) "
                     f"is not above chance {chance:.3f}")
    share = np.bincount(predictions, minlength=len(classes)) / len(predictions)
    if share.max() >= COLLAPSE_SHARE:
        found.append(f"{category}: {share.max():.1%} of images predicted as {classes[int(share.argmax())]!r}")
    return found


def run_fairface_probe(model: "ProbeModel | object", dataset: FairFaceSplit, config: FairFaceProbeConfig = FairFaceProbeConfig(),
                       train: FairFaceSplit | None = None) -> ProbeResult:
    """Zero-shot (and, with a training split, linear-probe) race/gender/age accuracy by group."""
    probe_model = as_probe_model(model)
    encoded: SplitFeatures = encode_split(probe_model.model, dataset, config.batch_size, config.progress,
                                          config.feature_cache, probe_model.weights_sha256)
    train_encoded = encode_split(probe_model.model, train, config.batch_size, config.progress,
                                 config.feature_cache, probe_model.weights_sha256) if train else None
    table = encoded.table
    schema = dataset.schema
    outcomes: dict[str, np.ndarray] = {}
    predictions = pd.DataFrame({"file": table["file"], **{a: table[a] for a in ATTRIBUTES}})
    found_warnings = encoded.warnings() + (train_encoded.warnings() if train_encoded else [])
    chosen_c: dict[str, float] = {}
    for attribute in ATTRIBUTES:
        spec = schema.attribute(attribute)
        truth = _labels(table, spec.values, attribute)
        methods = {"zero_shot": prompt_logits(probe_model.model, encoded.features.normalized, spec.prompts()).argmax(1)}
        if train_encoded is not None:
            train_truth = _labels(train_encoded.table, spec.values, attribute)
            methods["linear_probe"], chosen_c[attribute] = linear_probe_predictions(
                train_encoded.features.features, train_truth, encoded.features.features, config)
        for method, predicted in methods.items():
            category = f"{method}:{attribute}"
            outcomes[category] = predicted == truth
            predictions[category] = [spec.values[i] for i in predicted]
            overall = disaggregate(outcomes[category], table[attribute], attribute, [category], spec.values,
                                   config.confidence)[0]
            found_warnings += plausibility_warnings(category, predicted, spec.values, overall)
    categories = list(outcomes)
    matrix = np.column_stack([outcomes[c] for c in categories]).astype(np.int64)
    rates: list[DisaggregatedRate] = []
    for grouping in groupings(table, schema):
        rates += disaggregate(matrix, grouping.groups, grouping.attribute, categories, grouping.order, config.confidence)
    prompts = {a: {"template": schema.attribute(a).template, "prompts": schema.attribute(a).prompts()}
               for a in ATTRIBUTES}
    data = {"eval": encoded.data_entry(), "train": train_encoded.data_entry() if train_encoded else None}
    provenance = build_provenance(PROBE, probe_model, data, prompts, None, config.seed,
                                  {**asdict(config), "linear_probe_C": chosen_c})
    summary = {"n_images": len(table), "skipped_images": len(encoded.features.skipped), "split": dataset.split,
               "linear_probe": train_encoded is not None, "categories": categories,
               "accuracy": {c: float(outcomes[c].mean()) for c in categories}}
    return ProbeResult(probe=PROBE, rates=rates_table(PROBE, rates), disaggregated=tuple(rates), summary=summary,
                       provenance=provenance, tables={"predictions": predictions}, warnings=tuple(found_warnings))
