"""`clip-audit inspect`: pair selection, the static page, and labelling in headless Chromium."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.inspect_page import InspectOptions, select_pairs
from audit.inspect_server import ServerConfig, make_server, merge_labels

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def overlap_dir(planted_world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inspect") / "run"
    args = ["overlap", "--pretraining", str(planted_world.pretraining_dir), "--out", str(out), "--default-threshold", "0.8"]
    for name, folder in planted_world.eval_dirs.items():
        args += ["--eval", f"{name}={folder}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_select_pairs_takes_the_closest_to_the_threshold_most_similar_first() -> None:
    neighbours = pd.DataFrame({
        "dataset": ["a"] * 6 + ["b"], "eval_id": list("uvwxyz") + ["q"], "rank": 1,
        "pretraining_id": list("UVWXYZ") + ["Q"], "similarity": [0.95, 0.81, 0.79, 0.5, 0.78, 0.1, 0.8],
    })
    pairs = select_pairs(neighbours, "a", 0.8, 3)
    assert list(pairs["eval_id"]) == ["v", "w", "y"]
    with pytest.raises(ValueError, match="not in the overlap results"):
        select_pairs(neighbours, "zzz", 0.8, 3)


def test_static_page_is_self_contained(overlap_dir: Path) -> None:
    result = runner.invoke(app, ["inspect", "--overlap", str(overlap_dir), "--dataset", "cifar", "--count", "20"])
    assert result.exit_code == 0, result.output
    page = (overlap_dir / "inspect-cifar.html").read_text()
    assert page.count('class="pair"') == 20 and "labels.csv" in page and "http://" not in page.split("<script>")[1]
    assert runner.invoke(app, ["inspect", "--overlap", str(overlap_dir), "--dataset", "nope"]).exit_code == 2


def test_merge_keeps_the_newest_label_of_a_pair(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    columns = ["dataset", "eval_id", "pretraining_id", "is_duplicate"]
    merge_labels(path, pd.DataFrame([("a", "1", "x", 1), ("a", "2", "y", 0)], columns=columns))
    merged = merge_labels(path, pd.DataFrame([("a", "1", "x", 0)], columns=columns))
    assert merged.set_index("eval_id").loc["1", "is_duplicate"] == 0 and len(merged) == 2
    assert path.read_text() == "dataset,eval_id,pretraining_id,is_duplicate\na,2,y,0\na,1,x,0\n"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_label_pairs_in_headless_chromium(overlap_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    server = make_server(overlap_dir, InspectOptions(dataset="cifar", count=10), ServerConfig(port=0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            sections = page.locator(".pair")
            assert sections.count() == 10
            first = (sections.nth(0).get_attribute("data-eval-id"), sections.nth(0).get_attribute("data-pretraining-id"))
            second = (sections.nth(1).get_attribute("data-eval-id"), sections.nth(1).get_attribute("data-pretraining-id"))
            third = (sections.nth(2).get_attribute("data-eval-id"), sections.nth(2).get_attribute("data-pretraining-id"))
            page.keyboard.press("d")
            page.keyboard.press("n")
            sections.nth(2).locator("button.mark[data-value='1']").click()
            page.click("#save")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    labels = pd.read_csv(overlap_dir / "labels.csv", dtype=str)
    got = {(r.eval_id, r.pretraining_id): r.is_duplicate for r in labels.itertuples()}
    assert got == {first: "1", second: "0", third: "1"}
    assert set(labels["dataset"]) == {"cifar"}
