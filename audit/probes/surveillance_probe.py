"""Probe 5, surveillance (Radford et al. 2021, section 7): coarse captions and fine-grained questions.

- ``coarse_top1``: the true caption scores highest among it and the ordinary distractors.
- ``coarse_top1_with_near_miss``: the same among true caption, distractors and near-miss
  distractors, on the frames that have a near miss; ``near_miss_pick``: a near miss scores highest.
- ``fine_grained_yes_no``: per question, "yes" when the statement scores above its negation;
  count = correct answers, n = questions.
Rates by ``sequence`` and overall (attribute ``all``), with Clopper-Pearson intervals.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from audit.probes.disaggregated import GroupRate, disaggregate, rates_table
from audit.probes.image_features import encode_image_files
from audit.probes.provenance import ProbeModel, as_probe_model, build_provenance, data_file_entry
from audit.probes.result import ProbeResult
from audit.probes.surveillance_data import SurveillanceSet
from audit.probes.zero_shot import prompt_logits

PROBE = "surveillance"


@dataclass(frozen=True)
class SurveillanceConfig:
    """Settings of the surveillance probe."""

    confidence: float = 0.95
    seed: int = 0
    batch_size: int = 64
    progress: bool = True
    feature_cache: str | None = None  # folder for reusable image features (see image_features)


def run_surveillance_probe(model: "ProbeModel | object", dataset: SurveillanceSet,
                           config: SurveillanceConfig = SurveillanceConfig()) -> ProbeResult:
    """Coarse top-1 with and without near-miss distractors, the near-miss pick rate, yes/no accuracy."""
    probe_model = as_probe_model(model)
    encoded = encode_image_files(probe_model.model, [dataset.root / f for f in dataset.frames], config.batch_size,
                                 desc="frames", progress=config.progress,
                                 cache_dir=config.feature_cache, model_key=probe_model.weights_sha256)
    frames = [dataset.frames[i] for i in encoded.kept]
    table = dataset.table[dataset.table["frame"].isin(frames)]
    texts = sorted(set(table["text"]) | set(table.loc[table["kind"] == "question", "negative"]))
    column = {t: i for i, t in enumerate(texts)}
    logits = prompt_logits(probe_model.model, encoded.normalized, texts)
    sequence_of = dataset.sequence_of()
    coarse, coarse_seq, near, near_pick, near_seq, answers, answer_seq = [], [], [], [], [], [], []
    for row, frame in enumerate(frames):
        rows = table[table["frame"] == frame]
        score = {t: logits[row, column[t]] for t in rows["text"]}
        true = rows.loc[rows["kind"] == "caption", "text"].iloc[0]
        distractors = list(rows.loc[rows["kind"] == "distractor", "text"])
        misses = list(rows.loc[rows["kind"] == "near_miss", "text"])
        coarse.append(all(score[true] > score[d] for d in distractors))
        coarse_seq.append(sequence_of[frame])
        if misses:
            best = max([true, *distractors, *misses], key=lambda t: score[t])
            near.append(best == true)
            near_pick.append(best in misses)
            near_seq.append(sequence_of[frame])
        for question in rows[rows["kind"] == "question"].itertuples():
            says_yes = logits[row, column[question.text]] > logits[row, column[question.negative]]
            answers.append(says_yes == (question.answer == "yes"))
            answer_seq.append(sequence_of[frame])
    order = tuple(dict.fromkeys(dataset.table["sequence"]))
    rates = []
    for categories, outcomes, groups in ((["coarse_top1"], [coarse], coarse_seq),
                                         (["coarse_top1_with_near_miss", "near_miss_pick"], [near, near_pick], near_seq),
                                         (["fine_grained_yes_no"], [answers], answer_seq)):
        if not groups:
            continue
        matrix = np.column_stack(outcomes).astype(np.int64)
        rates += disaggregate(matrix, groups, "sequence", categories, order, config.confidence)
        rates += disaggregate(matrix, ["all"] * len(groups), "all", categories, ("all",), config.confidence)
    found_warnings = []
    if encoded.skipped:
        found_warnings.append(f"{len(encoded.skipped)} of {len(dataset.frames)} frames skipped (missing or unreadable), "
                              f"first {encoded.skipped[0][0]}")
    overall = {r.category: r.overall for r in rates if r.attribute == "all"}
    coarse_all: GroupRate = overall["coarse_top1"]
    n_candidates = table[table["kind"].isin(("caption", "distractor"))].groupby("frame").size()
    if coarse_all.ci_low <= 1.0 / float(n_candidates.min()):
        found_warnings.append(f"coarse_top1 {coarse_all.rate:.3f} is not above chance 1/{int(n_candidates.min())}")
    summary = {"n_frames": len(frames), "skipped_frames": len(encoded.skipped),
               "n_questions": len(answers), "frames_with_near_miss": len(near),
               "overall": {k: v.to_dict() for k, v in overall.items()}}
    data = {"root": str(dataset.root), "captions": data_file_entry(dataset.captions_path), "frames": len(dataset.frames),
            "skipped": len(encoded.skipped)}
    provenance = build_provenance(PROBE, probe_model, {"eval": data}, {"texts": "captions and questions as given"},
                                  None, config.seed, asdict(config))
    return ProbeResult(probe=PROBE, rates=rates_table(PROBE, rates), disaggregated=tuple(rates), summary=summary,
                       provenance=provenance, warnings=tuple(found_warnings))
