"""Everything the report shows, gathered from the result files into template-ready sections."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from reports.contamination_results import ContaminationResults, read_contamination
from reports.figures import Figure, overlap_figure, probe_figure, similarity_figure
from reports.findings import composition_from_examples, contamination_findings, probe_finding
from reports.layout import ReportPaths
from reports.overlap_results import OverlapResults, read_overlap
from reports.probe_results import ProbeResults, read_probe
from reports.result_files import flatten
from reports.tables import (
    Table, contamination_table, frame_table, pairs_table, probe_summary_tables, rates_table, thresholds_table,
    differences_table, uncertainty_table,
)
from reports.thumbnails import pair_images, pairs_near_threshold

Step = Callable[[str], None]


@dataclass(frozen=True)
class ReportConfig:
    """What the report shows: the significance level of the summary, pair and table sizes."""

    alpha: float = 0.05
    pairs_per_side: int = 4
    thumbnail_size: int = 112
    composition_rows: int = 15
    max_probe_panels: int = 12
    max_rate_rows: int = 400
    max_summary_rows: int = 60


@dataclass(frozen=True)
class Pair:
    """An example pair near a threshold, with thumbnails when the images were found."""

    eval_id: str
    pretraining_id: str
    similarity: str
    score: str
    side: str
    eval_image: str | None
    pretraining_image: str | None


@dataclass(frozen=True)
class DatasetDetail:
    """Per-dataset detail: class composition of Overlap against Clean, and pairs near the threshold."""

    name: str
    composition: Table | None
    pairs: tuple[Pair, ...]
    threshold: str | None
    missing_images: int


@dataclass(frozen=True)
class ProbeSection:
    """One probe: its finding, rates table, chart, summary, differences and provenance."""

    name: str
    finding: str
    rates: Table
    figure: Figure
    findings: Table | None
    spread: Table | None
    warnings: tuple[str, ...]
    differences: Table | None


@dataclass(frozen=True)
class SectionStatus:
    """Whether a section has results, and where they were looked for when it has none."""

    key: str
    title: str
    ran: bool
    source: str


@dataclass
class ReportContent:
    """The full content of one report."""

    root: str
    statuses: list[SectionStatus]
    summary: list[str] = field(default_factory=list)
    contamination: Table | None = None
    uncertainty: Table | None = None
    contamination_notes: list[str] = field(default_factory=list)
    contamination_warnings: list[str] = field(default_factory=list)
    overlap_figure: Figure | None = None
    confidence: float | None = None
    datasets: list[DatasetDetail] = field(default_factory=list)
    thresholds: Table | None = None
    similarity_figure: Figure | None = None
    probes: list[ProbeSection] = field(default_factory=list)
    provenance: list[Table] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        """Every figure of the report, in order."""
        found = [self.overlap_figure, self.similarity_figure, *(p.figure for p in self.probes)]
        return [f for f in found if f is not None]


def _dataset_details(contamination: ContaminationResults | None, overlap: OverlapResults | None, config: ReportConfig) -> list[DatasetDetail]:
    """Composition and near-threshold pairs for every dataset known to either result."""
    names = set(contamination.table["dataset"]) if contamination else set()
    if overlap is not None and overlap.best is not None:
        names |= set(overlap.best["dataset"])
    details = []
    for name in sorted(names):
        composition = None
        if contamination is not None and contamination.composition is not None:
            rows = contamination.composition[contamination.composition["dataset"] == name].drop(columns="dataset")
            if "n_overlap" in rows.columns:
                rows = rows.sort_values("n_overlap", ascending=False, kind="mergesort")
            if not rows.empty:
                composition = frame_table(rows, "Class composition of Overlap against Clean (composition.csv)", limit=config.composition_rows)
        elif contamination is not None and contamination.examples is not None:
            counts = composition_from_examples(contamination.examples, name)
            if counts is not None:
                composition = frame_table(counts, "Class composition of Overlap against Clean (counted from overlap_examples.csv)", limit=config.composition_rows)
        pairs, threshold, missing = (), None, 0
        decisions = overlap.thresholds.set_index("dataset") if overlap is not None and not overlap.thresholds.empty else None
        if overlap is not None and overlap.pairs is not None and decisions is not None and name in decisions.index:
            cut = float(decisions.loc[name, "threshold"])
            chosen = pairs_near_threshold(overlap.pairs, name, cut, config.pairs_per_side)
            images = pair_images(chosen, overlap.sources.get("eval", {}).get(name), overlap.sources.get("pretraining"), config.thumbnail_size)
            pairs = tuple(
                Pair(r.eval_id, r.pretraining_id, f"{r.similarity:.4f}", f"{r.score:.4f}", r.side, images.eval_images.get(r.eval_id),
                     images.pretraining_images.get(r.pretraining_id))
                for r in chosen.itertuples()
            )
            threshold, missing = f"{cut:.4f}", images.missing
        details.append(DatasetDetail(name, composition, pairs, threshold, missing))
    return details


def _contamination_notes(results: ContaminationResults) -> list[str]:
    """Datasets without overlap, the decontamination list and unreadable images, in words."""
    notes = []
    none = results.table.loc[results.table["n_overlap"] == 0, "dataset"].tolist()
    if none:
        notes.append(f"No detected overlap (listed, not plotted): {', '.join(map(str, none))}.")
    if results.drop_rows is not None:
        notes.append(f"drop.csv lists {results.drop_rows} pre-training item(s) at or above a threshold (the decontamination list).")
    if results.unreadable_pretraining is not None:
        notes.append(f"Unreadable pre-training images skipped during the overlap search: {results.unreadable_pretraining}.")
    return notes


def _provenance_tables(contamination: ContaminationResults | None, overlap: OverlapResults | None, probes: list[ProbeResults]) -> list[Table]:
    """One key/value table per provenance record found beside the results."""
    tables = []
    if contamination is not None and contamination.provenance is not None:
        tables.append(pairs_table(flatten(contamination.provenance), f"Contamination ({contamination.folder / 'provenance.json'})"))
    if overlap is not None and overlap.summary is not None:
        tables.append(pairs_table(flatten(overlap.summary), f"Overlap search ({overlap.folder / 'overlap_summary.json'})"))
    if overlap is not None and overlap.sources:
        tables.append(pairs_table(flatten(overlap.sources), f"Image sources ({overlap.folder / 'sources.json'})"))
    for probe in probes:
        if probe.provenance is not None:
            tables.append(pairs_table(flatten(probe.provenance), f"Probe {probe.name} ({probe.folder / 'provenance.json'})"))
    return tables


def build_content(paths: ReportPaths, config: ReportConfig, step: Step = lambda _: None) -> ReportContent:
    """Read every section's results and turn them into tables, figures and sentences."""
    step("reading contamination results")
    contamination = read_contamination(paths.contamination) if paths.contamination else None
    step("reading overlap results")
    overlap = read_overlap(paths.overlap) if paths.overlap else None
    step("reading probe results")
    probes = [read_probe(folder) for folder in paths.probes]
    has_thresholds = overlap is not None and not overlap.thresholds.empty
    statuses = [
        SectionStatus("contamination", "Contamination", contamination is not None,
                      str(paths.contamination or f"{paths.root}/results/contamination.csv")),
        SectionStatus("datasets", "Per-dataset detail", contamination is not None or has_thresholds,
                      str(paths.contamination or paths.overlap or paths.root)),
        SectionStatus("thresholds", "Thresholds", has_thresholds, str(paths.overlap or f"{paths.root}/overlap/thresholds.json")),
        SectionStatus("probes", "Bias probes", bool(probes), ", ".join(str(p) for p in paths.probes) or f"{paths.root}/probes/<name>/rates.csv"),
    ]
    content = ReportContent(root=str(paths.root), statuses=statuses)
    if contamination is not None:
        step("contamination table and figure")
        content.summary += contamination_findings(contamination, config.alpha)
        content.summary += [f"Warning: {w}" for w in contamination.warnings]
        content.contamination = contamination_table(contamination.table, contamination.confidence)
        content.uncertainty = uncertainty_table(contamination.sections)
        content.contamination_warnings = list(contamination.warnings)
        content.contamination_notes = _contamination_notes(contamination)
        content.overlap_figure = overlap_figure(contamination.table, contamination.confidence)
        content.confidence = contamination.confidence
    step("per-dataset detail and thumbnails")
    content.datasets = _dataset_details(contamination, overlap, config)
    if has_thresholds:
        content.thresholds = thresholds_table(overlap.thresholds, overlap.interval_level)
        if overlap.best is not None:
            content.similarity_figure = similarity_figure(overlap.best, overlap.thresholds)
    for probe in probes:
        step(f"probe {probe.name}")
        finding = probe_finding(probe)
        content.summary.append(finding)
        findings, spread, warnings = probe_summary_tables(probe.name, probe.summary, config.max_summary_rows)
        content.probes.append(ProbeSection(
            name=probe.name, finding=finding,
            rates=rates_table(probe.name, probe.rates, probe.confidence, config.max_rate_rows),
            figure=probe_figure(probe.name, probe.rates, probe.confidence, config.max_probe_panels),
            findings=findings, spread=spread, warnings=warnings,
            differences=differences_table(probe.name, probe.differences, config.max_rate_rows) if probe.differences is not None else None,
        ))
    content.provenance = _provenance_tables(contamination, overlap, probes)
    return content

