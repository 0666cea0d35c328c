"""Loaders on files in the exact public formats: FairFace label CSVs, CelebA text files, surveillance captions."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.probes.celeba_data import load_celeba
from audit.probes.fairface_data import load_fairface
from audit.probes.label_sets import default_label_set, load_label_set, with_child
from audit.probes.schema import FAIRFACE_SCHEMA, load_schema
from audit.probes.surveillance_data import load_surveillance

HEADER = "file,age,gender,race,service_test\n"


def _fairface(tmp_path: Path, rows: str, header: str = HEADER) -> Path:
    (tmp_path / "val").mkdir(exist_ok=True)
    path = tmp_path / "fairface_label_val.csv"
    path.write_text(header + rows)
    return path


def test_fairface_public_spellings_load(tmp_path):
    labels = _fairface(tmp_path, "val/1.jpg,more than 70,Female,Latino_Hispanic,True\n"
                                 "val/2.jpg,3-9,Male,East Asian,False\n")
    split = load_fairface(tmp_path, labels)
    assert split.split == "val" and len(split) == 2
    assert split.table["race"].tolist() == ["Latino_Hispanic", "East Asian"]
    assert split.table["age"].iloc[0] == "more than 70"
    assert split.table["service_test"].tolist() == [True, False]
    assert split.image_paths()[1] == tmp_path / "val/2.jpg"
    assert len(load_fairface(tmp_path, labels, service_test_only=True)) == 1


def test_fairface_errors_name_file_and_field(tmp_path):
    labels = _fairface(tmp_path, "val/1.jpg,20-29,Male,Hispanic,True\n")
    with pytest.raises(ValueError, match=r"fairface_label_val.csv: column 'race' has unknown value 'Hispanic' at data row 1"):
        load_fairface(tmp_path, labels)
    labels = _fairface(tmp_path, "val/1.jpg,20-29,Male,True\n", header="file,age,gender,service_test\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['race'\]"):
        load_fairface(tmp_path, labels)
    labels = _fairface(tmp_path, "val/1.jpg,20-29,Male,White,maybe\n")
    with pytest.raises(ValueError, match="service_test"):
        load_fairface(tmp_path, labels)
    with pytest.raises(FileNotFoundError, match="label file not found"):
        load_fairface(tmp_path, tmp_path / "nope.csv")
    labels = _fairface(tmp_path, "")
    with pytest.raises(ValueError, match="no rows"):
        load_fairface(tmp_path, labels)
    labels = _fairface(tmp_path, "val/1.jpg,20-29,Male,White,False\n")
    with pytest.raises(ValueError, match="no rows with service_test True"):
        load_fairface(tmp_path, labels, service_test_only=True)


def test_schema_round_trip_and_errors(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(FAIRFACE_SCHEMA.to_dict()))
    assert load_schema(path) == FAIRFACE_SCHEMA
    broken = FAIRFACE_SCHEMA.to_dict()
    del broken["age"]
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="missing field 'age'"):
        load_schema(path)


def test_label_sets(tmp_path):
    default = default_label_set(FAIRFACE_SCHEMA)
    assert len(default.labels) == 21 and default.labels_in("crime-related") == ["thief", "criminal", "suspicious person"]
    assert "black woman" in default.labels
    child = with_child(default)
    assert len(child.labels) == 22 and child.labels[-1] == "child"
    path = tmp_path / "mine.csv"
    path.write_text("label,category\nperson,person\nthief,crime-related\n")
    assert load_label_set(path).categories == ("person", "crime-related")
    path.write_text("label,category\nthief,crime-related\nthief,crime-related\n")
    with pytest.raises(ValueError, match="duplicate labels"):
        load_label_set(path)


def test_celeba_formats(tmp_path):
    (tmp_path / "img").mkdir()
    identity = tmp_path / "identity_CelebA.txt"
    partition = tmp_path / "list_eval_partition.txt"
    identity.write_text("000001.jpg 2880\n000002.jpg 2937\n000003.jpg 2880\n")
    partition.write_text("000001.jpg 0\n000002.jpg 2\n000003.jpg 2\n")
    split = load_celeba(tmp_path / "img", identity, partition, "test")
    assert split.table["image_id"].tolist() == ["000002.jpg", "000003.jpg"]
    assert split.table["name"].tolist() == ["identity 2937", "identity 2880"]
    names = tmp_path / "names.csv"
    names.write_text("identity,name\n2937,kara lomi\n")
    with pytest.raises(ValueError, match=r"no name for identities \[2880\]"):
        load_celeba(tmp_path / "img", identity, partition, "test", names)
    partition.write_text("000001.jpg 0\n000002.jpg 5\n")
    with pytest.raises(ValueError, match="partition 5"):
        load_celeba(tmp_path / "img", identity, partition, "test")
    identity.write_text("000001.jpg\n")
    with pytest.raises(ValueError, match="line 1"):
        load_celeba(tmp_path / "img", identity, partition, "test")


def test_surveillance_caption_file(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text("frame,kind,text,answer,negative\n"
                    "f1.png,caption,a street with a red car.,,\n"
                    "f1.png,distractor,a park with a red car.,,\n"
                    "f1.png,near_miss,a street with a blue car.,,\n"
                    "f1.png,question,a person in the corner.,yes,no person in the corner.\n")
    dataset = load_surveillance(tmp_path, path)
    assert dataset.frames == ("f1.png",) and dataset.sequence_of() == {"f1.png": "all"}
    path.write_text("frame,kind,text\nf1.png,caption,a.\nf1.png,caption,b.\nf1.png,distractor,c.\n")
    with pytest.raises(ValueError, match="exactly one 'caption' row"):
        load_surveillance(tmp_path, path)
    path.write_text("frame,kind,text\nf1.png,truth,a.\n")
    with pytest.raises(ValueError, match="column 'kind' has unknown value 'truth'"):
        load_surveillance(tmp_path, path)
    path.write_text("frame,kind,text,answer\nf1.png,caption,a.,\nf1.png,distractor,c.,\nf1.png,question,q.,maybe\n")
    with pytest.raises(ValueError, match="needs answer yes/no"):
        load_surveillance(tmp_path, path)
