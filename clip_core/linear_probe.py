"""Linear-probe and few-shot evaluation of image features (CLIP paper, appendix A.3).

- ``extract_features(model, dataset)`` -> ``Features`` (image embeddings, integer labels, class names).
- ``c_grid_search(score)`` -> best L2 strength C: a decade sweep over 1e-6..1e6, then the step around
  the best value is halved until it reaches 8 steps per decade.
- ``linear_probe(train, test, cfg)`` -> dict: C chosen on a stratified validation split of ``train``,
  final fit on train + validation, acc1 / acc5 / mean_per_class_recall on ``test``.
- ``few_shot_probe(train, test, cfg)`` -> dict keyed by k: k examples per class (deterministic seeds),
  C chosen on the examples not drawn by the first seed, mean / std accuracy over seeds.
All fits are scikit-learn ``LogisticRegression(solver="lbfgs", max_iter=1000)``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from clip_core.zeroshot import encode_labelled_images, metrics_from_logits


@dataclass
class ProbeConfig:
    """Settings of the linear / few-shot probes."""

    max_iter: int = 1000
    log10_c_min: int = -6
    log10_c_max: int = 6
    steps_per_decade: int = 8
    val_fraction: float = 0.25
    seed: int = 0
    few_shot_ks: Tuple[int, ...] = (1, 2, 4, 8, 16)
    few_shot_seeds: Tuple[int, ...] = (0, 1, 2)

    def validate(self) -> "ProbeConfig":
        """Check field values; raises ValueError naming the field."""
        if self.max_iter < 1:
            raise ValueError(f"ProbeConfig.max_iter must be >= 1, got {self.max_iter}")
        if self.log10_c_min >= self.log10_c_max:
            raise ValueError("ProbeConfig.log10_c_min must be below log10_c_max")
        if self.steps_per_decade < 1 or self.steps_per_decade & (self.steps_per_decade - 1):
            raise ValueError(f"ProbeConfig.steps_per_decade must be a power of two, got {self.steps_per_decade}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"ProbeConfig.val_fraction must be in (0, 1), got {self.val_fraction}")
        if any(k < 1 for k in self.few_shot_ks):
            raise ValueError(f"ProbeConfig.few_shot_ks must be >= 1, got {self.few_shot_ks}")
        return self


@dataclass
class Features:
    """Image features [N, D], integer labels [N] and the class names the labels index."""

    x: np.ndarray
    y: np.ndarray
    classnames: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.int64)
        if self.x.ndim != 2 or self.y.shape != (self.x.shape[0],):
            raise ValueError(f"features must be [N, D] with labels [N], got {self.x.shape} and {self.y.shape}")

    @property
    def num_classes(self) -> int:
        """Number of classes (class names when known, else max label + 1)."""
        return len(self.classnames) if self.classnames else int(self.y.max()) + 1 if len(self.y) else 0

    def subset(self, index: np.ndarray) -> "Features":
        """The rows at `index`."""
        return Features(self.x[index], self.y[index], list(self.classnames))


def extract_features(model, dataset, batch_size: int = 64) -> Features:
    """Image embeddings (unnormalised, as in the CLIP paper's probes) and labels of a ClassificationSet."""
    _, features, labels = encode_labelled_images(model, dataset, batch_size, normalize=False)
    return Features(features.numpy(), np.asarray(labels), list(dataset.classnames))


def _fit(x: np.ndarray, y: np.ndarray, c: float, max_iter: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from threadpoolctl import threadpool_limits

    clf = LogisticRegression(solver="lbfgs", C=c, max_iter=max_iter)
    # small problems: one BLAS thread is several times faster than an oversubscribed pool
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    return clf


def _logits(clf, x: np.ndarray, num_classes: int) -> torch.Tensor:
    """Decision scores [N, num_classes]; classes absent from the fit score -inf."""
    out = np.full((x.shape[0], num_classes), -np.inf)
    scores = clf.decision_function(x)
    if len(clf.classes_) == 2:  # binary: one score column for classes_[1]
        out[:, clf.classes_[0]], out[:, clf.classes_[1]] = -scores / 2, scores / 2
    else:
        out[:, clf.classes_] = scores
    return torch.from_numpy(out)


def _accuracy(clf, x: np.ndarray, y: np.ndarray) -> float:
    if len(np.unique(clf.classes_)) == 1:
        return float(np.mean(y == clf.classes_[0]))
    return float(np.mean(clf.predict(x) == y))


def c_grid_search(score: Callable[[float], float], cfg: Optional[ProbeConfig] = None) -> Tuple[float, float, Dict[float, float]]:
    """Maximise score(C): decade sweep over 10**[min..max], then halve the log-step around the best to 1/steps_per_decade.

    Returns (best C, its score, every evaluated log10(C) -> score). Ties go to the smaller C (stronger L2).
    """
    cfg = (cfg or ProbeConfig()).validate()
    seen: Dict[float, float] = {}

    def evaluate(e: float) -> float:
        e = round(e, 6)
        if e not in seen:
            seen[e] = float(score(10.0 ** e))
        return seen[e]

    def best() -> float:
        return max(sorted(seen), key=lambda e: seen[e])  # first max in ascending C order

    for e in range(cfg.log10_c_min, cfg.log10_c_max + 1):
        evaluate(float(e))
    step = 1.0
    while step > 1.0 / cfg.steps_per_decade + 1e-12:
        step /= 2
        centre = best()
        for e in (centre - step, centre + step):
            if cfg.log10_c_min <= e <= cfg.log10_c_max:
                evaluate(e)
    e = best()
    return 10.0 ** e, seen[e], dict(seen)


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """(train index, validation index): about `fraction` of every class (never its last example) to validation."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rng.shuffle(members)
        n_val = min(int(round(fraction * len(members))), len(members) - 1)
        val_idx.append(members[:n_val])
        train_idx.append(members[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def _choose_c(train: Features, val: Features, cfg: ProbeConfig) -> Tuple[float, float]:
    if len(val.y) == 0:
        raise ValueError("linear probe: the validation split is empty (need >= 2 examples in some class)")

    def score(c: float) -> float:
        return _accuracy(_fit(train.x, train.y, c, cfg.max_iter), val.x, val.y)

    c, acc, _ = c_grid_search(score, cfg)
    return c, acc


def _check_pair(train: Features, test: Features) -> int:
    if train.x.shape[1] != test.x.shape[1]:
        raise ValueError(f"probe: train features have dim {train.x.shape[1]}, test {test.x.shape[1]}")
    if train.classnames and test.classnames and train.classnames != test.classnames:
        raise ValueError(f"probe: train and test class names differ ({train.classnames} vs {test.classnames})")
    if len(np.unique(train.y)) < 2:
        raise ValueError("probe: the training split needs at least two classes")
    return max(train.num_classes, test.num_classes)


def linear_probe(train: Features, test: Features, cfg: Optional[ProbeConfig] = None) -> Dict[str, float]:
    """Logistic-regression probe: C searched on a validation split of `train`, refit on all of it, scored on `test`."""
    cfg = (cfg or ProbeConfig()).validate()
    num_classes = _check_pair(train, test)
    tr_idx, va_idx = stratified_split(train.y, cfg.val_fraction, cfg.seed)
    c, val_acc = _choose_c(train.subset(tr_idx), train.subset(va_idx), cfg)
    clf = _fit(train.x, train.y, c, cfg.max_iter)
    metrics = metrics_from_logits(_logits(clf, test.x, num_classes), torch.from_numpy(test.y))
    metrics.update({"C": c, "val_acc1": val_acc, "num_train": int(len(tr_idx)), "num_val": int(len(va_idx)),
                    "num_test": int(len(test.y))})
    return metrics


def sample_k_per_class(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Sorted indices of k examples of every class (seeded); ValueError if a class has fewer than k."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if len(members) < k:
            raise ValueError(f"few-shot: class {int(c)} has {len(members)} examples, fewer than k={k}")
        picked.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(picked))


def few_shot_probe(train: Features, test: Features, cfg: Optional[ProbeConfig] = None) -> Dict[str, object]:
    """k-shot probes for every k in cfg.few_shot_ks (k drawn per class and seed; C chosen on the rest of the first draw).

    A k for which some class has k or fewer examples (none left to validate on) is listed under "skipped".
    """
    cfg = (cfg or ProbeConfig()).validate()
    num_classes = _check_pair(train, test)
    smallest = int(np.bincount(train.y)[np.unique(train.y)].min())
    out: Dict[str, object] = {}
    skipped: List[int] = []
    for k in cfg.few_shot_ks:
        if k >= smallest:
            skipped.append(k)
            continue
        accs, cs = [], []
        c = None
        for seed in cfg.few_shot_seeds:
            shots = sample_k_per_class(train.y, k, seed)
            if c is None:  # C searched on the first draw, reused for the other seeds
                rest = np.setdiff1d(np.arange(len(train.y)), shots)
                c, _ = _choose_c(train.subset(shots), train.subset(rest), cfg)
            clf = _fit(train.x[shots], train.y[shots], c, cfg.max_iter)
            m = metrics_from_logits(_logits(clf, test.x, num_classes), torch.from_numpy(test.y))
            accs.append(m["acc1"])
            cs.append(c)
        out[str(k)] = {"acc1_mean": float(np.mean(accs)), "acc1_std": float(np.std(accs)),
                       "acc1": accs, "C": cs, "seeds": list(cfg.few_shot_seeds)}
    if skipped:
        out["skipped"] = {"k": skipped, "reason": f"smallest training class has {smallest} examples"}
    return out


def default_probe_train(dataset: str) -> str:
    """The probe's training source for a synthetic task: the same task with another seed; ValueError otherwise."""
    if not dataset.startswith("synthetic:"):
        raise ValueError(f"--probe needs a training split for {dataset!r}: pass --probe-train SOURCE")
    base, _, query = dataset.partition("?")
    params = [p for p in query.split("&") if p]
    seed = 0
    rest = []
    for p in params:
        key, _, value = p.partition("=")
        if key == "seed":
            try:
                seed = int(value)
            except ValueError as error:
                raise ValueError(f"{dataset}: seed must be an integer, got {value!r}") from error
        else:
            rest.append(p)
    return base + "?" + "&".join(rest + [f"seed={seed + 1}"])


def run_probes(model, test_set, train_set, cfg: Optional[ProbeConfig] = None,
               batch_size: int = 64) -> Dict[str, object]:
    """Extract features of both sets and run the linear and few-shot probes: {"linear_probe", "few_shot"}."""
    cfg = (cfg or ProbeConfig()).validate()
    if list(train_set.classnames) != list(test_set.classnames):
        raise ValueError(f"probe train set {getattr(train_set, 'name', '')!r} has class names "
                         f"{list(train_set.classnames)}, evaluation set {list(test_set.classnames)}")
    train = extract_features(model, train_set, batch_size)
    test = extract_features(model, test_set, batch_size)
    return {"linear_probe": linear_probe(train, test, cfg), "few_shot": few_shot_probe(train, test, cfg)}


__all__ = ["Features", "ProbeConfig", "c_grid_search", "default_probe_train", "extract_features",
           "few_shot_probe", "linear_probe", "run_probes", "sample_k_per_class", "stratified_split"]
