"""The labelling server of `clip-audit inspect --serve`, driven with real HTTP requests on 127.0.0.1."""
from __future__ import annotations

import http.client
import json
import re
import threading
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from audit.inspect_page import InspectOptions
from audit.inspect_server import TOKEN_HEADER, LabelServer, ServerConfig, make_server
from audit.thresholds import read_labels

OPTIONS = InspectOptions(dataset="cifar", count=6, threshold=0.5)
LIMIT = 4096


def write_neighbours(folder: Path) -> Path:
    """An overlap folder with 10 cifar pairs around 0.5 and one birds pair."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [("cifar", f"e{i}", 1, f"p{i}", 0.3 + 0.05 * i) for i in range(10)] + [("birds", "b0", 1, "q0", 0.5)]
    frame = pd.DataFrame(rows, columns=["dataset", "eval_id", "rank", "pretraining_id", "similarity"])
    frame.to_parquet(folder / "neighbours.parquet", index=False)
    return folder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LabelServer]:
    running = make_server(write_neighbours(tmp_path / "overlap"), OPTIONS, ServerConfig(port=0, max_body_bytes=LIMIT))
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def request(server: LabelServer, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One HTTP request to the server; the Host header is the right one unless `headers` sets it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def page_token(server: LabelServer) -> str:
    """The session token embedded in the served page."""
    status, page = request(server, "GET", "/")
    assert status == 200
    found = re.search(r'const TOKEN = "([^"]+)";', page.decode("utf-8"))
    assert found, "the served page holds no token"
    return found.group(1)


def label(eval_id: str = "e4", pretraining_id: str = "p4", is_duplicate: object = 1, dataset: str = "cifar") -> dict[str, object]:
    return {"dataset": dataset, "eval_id": eval_id, "pretraining_id": pretraining_id, "is_duplicate": is_duplicate}


def post_labels(server: LabelServer, document: object, token: str | None, **extra: str) -> tuple[int, dict]:
    """POST a JSON document the way the page does (token header, application/json), plus extra headers."""
    headers = {"Content-Type": "application/json", **extra}
    if token is not None:
        headers[TOKEN_HEADER] = token
    status, body = request(server, "POST", "/labels", json.dumps(document).encode("utf-8"), headers)
    return status, json.loads(body)


def test_page_labels_are_validated_merged_and_written(server: LabelServer) -> None:
    token = page_token(server)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    status, answer = post_labels(server, {"labels": [label("e4", "p4", 1), label("e5", "p5", 0)]}, token, Origin=origin)
    assert (status, answer) == (200, {"saved": 2, "labels": 2})
    status, answer = post_labels(server, {"labels": [label("e4", "p4", 0)]}, token)
    assert (status, answer) == (200, {"saved": 1, "labels": 2})
    assert server.labels_path.read_text() == "dataset,eval_id,pretraining_id,is_duplicate\ncifar,e5,p5,0\ncifar,e4,p4,0\n"
    assert token != page_token_of_new_server(server.labels_path.parent)


def page_token_of_new_server(overlap_dir: Path) -> str:
    """The token another session on the same folder holds (it must differ: tokens are random)."""
    other = make_server(overlap_dir, OPTIONS, ServerConfig(port=0))
    try:
        return other.token
    finally:
        other.server_close()


def test_cross_site_text_plain_post_is_refused(server: LabelServer) -> None:
    csv_body = b"dataset,eval_id,pretraining_id,is_duplicate\ncifar,e4,p4,1\n"
    status, body = request(server, "POST", "/labels", csv_body, {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status == 403 and "Origin" in json.loads(body)["error"]
    status, answer = post_labels(server, {"labels": [label()]}, page_token(server), Origin="http://evil.example")
    assert status == 403 and "evil.example" in answer["error"]
    status, body = request(server, "POST", "/labels", csv_body, {"Content-Type": "text/plain", TOKEN_HEADER: page_token(server)})
    assert status == 415 and "application/json" in json.loads(body)["error"]
    assert not server.labels_path.exists()


def test_dns_rebinding_host_gets_neither_the_page_nor_a_write(server: LabelServer) -> None:
    token = page_token(server)
    rebound = f"attacker.example:{server.server_address[1]}"
    status, body = request(server, "GET", "/", headers={"Host": rebound})
    assert status == 403 and token.encode() not in body
    status, answer = post_labels(server, {"labels": [label()]}, token, Host=rebound)
    assert status == 403 and "Host" in answer["error"]
    status, _ = post_labels(server, {"labels": [label()]}, token, Host=f"localhost:{server.server_address[1]}")
    assert status == 403
    assert not server.labels_path.exists()


def test_missing_or_wrong_token_is_refused(server: LabelServer) -> None:
    status, answer = post_labels(server, {"labels": [label()]}, None)
    assert status == 403 and TOKEN_HEADER in answer["error"]
    status, answer = post_labels(server, {"labels": [label()]}, page_token(server) + "x")
    assert status == 403 and "wrong" in answer["error"]
    assert not server.labels_path.exists()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'[{"dataset": "cifar"}]', '{"labels"'),
        (json.dumps({"labels": [label(is_duplicate=5)]}).encode(), "is_duplicate must be 0 or 1, got 5"),
        (json.dumps({"labels": [label(is_duplicate=True)]}).encode(), "is_duplicate must be 0 or 1"),
        (json.dumps({"labels": [label(is_duplicate="1")]}).encode(), "is_duplicate must be 0 or 1"),
        (json.dumps({"labels": [label(eval_id="nowhere")]}).encode(), "not on this page"),
        (json.dumps({"labels": [label(dataset="imagenet")]}).encode(), "not on this page"),
        (json.dumps({"labels": [label("b0", "q0", dataset="birds")]}).encode(), "not on this page"),
        (json.dumps({"labels": [label("e0", "p0")]}).encode(), "not on this page"),  # in the table, not among the 6 shown
        (json.dumps({"labels": [label(eval_id=4)]}).encode(), "must be a string"),
        (json.dumps({"labels": [{**label(), "extra": 1}]}).encode(), "exactly the keys"),
        (json.dumps({"labels": [label("e4", "p4", 1), label(is_duplicate=5)]}).encode(), "labels[1]"),
    ],
    ids=["bad-json", "not-utf8", "not-an-object", "is_duplicate-5", "is_duplicate-true", "is_duplicate-string",
         "unknown-eval-id", "unknown-dataset", "pair-of-another-dataset", "pair-not-on-page", "id-not-a-string",
         "extra-key", "one-bad-label-among-good"],
)
def test_bad_bodies_are_400_with_the_reason_and_write_nothing(server: LabelServer, body: bytes, reason: str) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8", TOKEN_HEADER: page_token(server)}
    status, answer = request(server, "POST", "/labels", body, headers)
    assert status == 400 and reason in json.loads(answer)["error"]
    assert not server.labels_path.exists()


def test_oversized_body_is_413(server: LabelServer) -> None:
    token = page_token(server)
    many = {"labels": [label("e4", "p4", i % 2) for i in range(LIMIT // 40)]}
    assert len(json.dumps(many)) > LIMIT
    status, answer = post_labels(server, many, token)
    assert status == 413 and str(LIMIT) in answer["error"]
    assert not server.labels_path.exists()


def test_corrupt_labels_file_names_its_line(server: LabelServer, tmp_path: Path) -> None:
    corrupt = "dataset,eval_id,pretraining_id,is_duplicate\ncifar,e4,p4,1\ncifar,e5,p5,5\n"
    server.labels_path.write_text(corrupt)
    status, answer = post_labels(server, {"labels": [label()]}, page_token(server))
    assert status == 500 and "line 3" in answer["error"] and "is_duplicate" in answer["error"]
    assert server.labels_path.read_text() == corrupt
    with pytest.raises(ValueError, match=r"labels\.csv, line 3: column 'is_duplicate' must be 0 or 1, found '5'"):
        make_server(server.labels_path.parent, OPTIONS, ServerConfig(port=0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dataset,eval_id,pretraining_id,is_duplicate\na,1,x,1\na,2,y\n", "line 3: 3 field"),
        ("dataset,eval_id,pretraining_id,is_duplicate\na,1,x,1\na,,y,0\n", "line 3: column 'eval_id' is empty"),
        ("dataset,eval_id,pretraining_id,is_duplicate\na,1,x,yes please\n", "line 2: column 'is_duplicate'"),
        ("dataset,eval_id,is_duplicate\na,1,1\n", "line 1: missing column"),
        ("", "empty"),
    ],
    ids=["short-row", "empty-id", "bad-flag", "missing-column", "empty-file"],
)
def test_read_labels_names_the_bad_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        read_labels(path)


def test_read_labels_keeps_the_last_label_of_a_pair(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text('is_duplicate,dataset,eval_id,pretraining_id\n1,a,"1,2",x\n0,a,3,y\n0,a,"1,2",x\n')
    labels = read_labels(path)
    assert labels.to_dict("records") == [
        {"dataset": "a", "eval_id": "3", "pretraining_id": "y", "is_duplicate": False},
        {"dataset": "a", "eval_id": "1,2", "pretraining_id": "x", "is_duplicate": False},
    ]


def test_inspect_serve_command_serves_a_working_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.commands.inspect as inspect_command
    from typer.testing import CliRunner

    from audit.cli import app

    started: list[LabelServer] = []

    def recording_make_server(*args: object, **kwargs: object) -> LabelServer:
        started.append(make_server(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(inspect_command, "make_server", recording_make_server)
    overlap_dir = write_neighbours(tmp_path / "overlap")
    args = ["inspect", "--overlap", str(overlap_dir), "--dataset", "cifar", "--count", "6", "--threshold", "0.5", "--serve", "--port", "0"]
    results = []
    thread = threading.Thread(target=lambda: results.append(CliRunner().invoke(app, args)), daemon=True)
    thread.start()
    for _ in range(200):
        if started or not thread.is_alive():
            break
        thread.join(0.05)
    assert started, results[0].output if results else "the command started no server"
    server = started[0]
    try:
        status, answer = post_labels(server, {"labels": [label()]}, page_token(server))
        assert (status, answer) == (200, {"saved": 1, "labels": 1})
    finally:
        server.shutdown()
        thread.join(10)
    assert results and results[0].exit_code == 0, results[0].output if results else "the command did not return"
    assert f"http://127.0.0.1:{server.server_address[1]}/" in results[0].output
    assert read_labels(overlap_dir / "labels.csv").to_dict("records") == [
        {"dataset": "cifar", "eval_id": "e4", "pretraining_id": "p4", "is_duplicate": True}
    ]
