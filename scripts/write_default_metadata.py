"""Write detector/weights/default.json: variant, trunk, input size, dim, calibrated threshold, training record.

    .venv/bin/python scripts/write_default_metadata.py --checkpoint runs/default-detector/checkpoint.pt \
        --threshold 0.83 --calibration runs/default-detector/calibration.json --out detector/weights/default.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.checkpoint import load_detector  # noqa: E402


def run_record(run: Path) -> dict:
    """Settings and last metrics of a training run folder, and of the runs it was initialised from."""
    train = json.loads((run / "train.json").read_text(encoding="utf-8")) if (run / "train.json").is_file() else {}
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()] if (run / "metrics.jsonl").is_file() else []
    identity = train.get("identity") or {}
    record = {"steps": train.get("steps"), "settings": identity or None, "last_metrics": metrics[-1] if metrics else None}
    init_from = (identity.get("train") or {}).get("init_from")
    if init_from:
        record["initialised_from"] = run_record(Path(init_from).parent)
    return record


def main() -> None:
    """Collect the configuration, calibration and training record into one JSON file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, type=Path, help="the exported file (or detector.pt / checkpoint.pt) inside the run folder")
    ap.add_argument("--threshold", required=True, help="calibrated threshold ('None' when unreachable)")
    ap.add_argument("--calibration", required=True, type=Path, help="JSON report of `detector eval --calibrate`")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--warning", default="", help="printed whenever the default is loaded (goals not met); empty: none")
    args = ap.parse_args()
    model = load_detector(args.checkpoint)
    cfg = model.config
    run = args.checkpoint.parent
    calibration = json.loads(args.calibration.read_text(encoding="utf-8"))
    steps = model.metadata.get("step", model.metadata.get("steps"))  # type: ignore[attr-defined]
    threshold = None if args.threshold in ("None", "null", "") else float(args.threshold)
    meta = {
        "variant": cfg.variant,
        "trunk": cfg.trunk.__dict__ | {"layers": list(cfg.trunk.layers)},
        "input_size": cfg.input_size,
        "input_mode": cfg.input_mode,
        "orbit": cfg.orbit,
        "dim": cfg.dim,
        "threshold": threshold,
        "threshold_rule": "lowest score with precision >= 0.95 when held-out augmented copies (12 transform "
                          "families) of the calibration photographs are scored against their references among "
                          "10x distractors (scripts/build_copy_benchmark.py --photos runs/detector-images/calibration --seed 1)",
        "calibration": {"queries": calibration.get("n_queries"), "references": calibration.get("n_references"),
                        "recall_at_threshold": (calibration.get("calibration") or {}).get("recall"),
                        "micro_ap": calibration.get("overall", {}).get("micro_ap")},
        "trained_with": "scripts/train_default_detector.sh (clip-audit detector train, CPU)",
        "training": {"images": "runs/detector-images/train (scripts/fetch_detector_images.py)",
                     **run_record(run), "steps": steps},
        "weights": "fp16, weight normalisation folded",
    }
    if args.warning:
        meta["warning"] = args.warning
    args.out.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
