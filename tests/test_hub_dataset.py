"""Dataset export: Parquet + card written by hub/, read back by `load_dataset(folder, config)` in a fresh
process, must give the builders' rows and features (ClassLabel included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import Features

from biomed_nerre.hub.export_dataset import export_dataset, export_dataset_dicts, shard_count
from loaders import load_corpus

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BC5CDR_CONFIGS = ["documents", "ner", "re", "bigbio_kb"]

LOAD_SCRIPT = r"""
import json, sys
from datasets import load_dataset
folder, out = sys.argv[1], sys.argv[2]
result = {}
for config in sys.argv[3:]:
    loaded = load_dataset(folder, config)
    result[config] = {split: {"features": ds.features.to_dict(), "rows": ds.to_list()} for split, ds in loaded.items()}
json.dump(result, open(out, "w"))
"""


def fresh_env(tmp: Path) -> dict[str, str]:
    """Environment of a process that sees neither the repository nor the network nor our caches."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_HOME", "HF_DATASETS_CACHE")}
    return {**env, "HF_HOME": str(tmp / "hf_home"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def load_in_fresh_process(folder: Path, configs: list[str], tmp: Path) -> dict:
    out = tmp / f"{folder.name}-loaded.json"
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(folder), str(out), *configs],
        cwd=tmp,
        env=fresh_env(tmp),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def assert_same_as_builders(loaded: dict, corpus: str, data_dir: Path, cache_dir: Path) -> None:
    for config, splits in loaded.items():
        built = load_corpus(corpus, config, data_dir=str(data_dir), cache_dir=str(cache_dir))
        assert sorted(splits) == sorted(built), config
        for split, ds in built.items():
            assert Features.from_dict(splits[split]["features"]) == ds.features, (config, split)
            assert splits[split]["rows"] == ds.to_list(), (config, split)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("hub_dataset")
    cache = tmp / "cache"
    bc5cdr = tmp / "bc5cdr"
    export_dataset("bc5cdr", bc5cdr, data_dir=str(DATA / "bc5cdr"), repo_id="someone/bc5cdr", cache_dir=str(cache))
    cdg = tmp / "chem_dis_gene"
    export_dataset("chem_dis_gene", cdg, data_dir=str(DATA / "chem_dis_gene" / "sample"), cache_dir=str(cache))
    return {"tmp": tmp, "cache": cache, "bc5cdr": bc5cdr, "chem_dis_gene": cdg}


def card_yaml(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_bc5cdr_export_loads_by_config_name_with_the_builders_rows(exported) -> None:
    loaded = load_in_fresh_process(exported["bc5cdr"], BC5CDR_CONFIGS, exported["tmp"])
    assert_same_as_builders(loaded, "bc5cdr", DATA / "bc5cdr", exported["cache"])
    assert [len(loaded["documents"][s]["rows"]) for s in ("train", "validation", "test")] == [500, 500, 500]
    tags = loaded["ner"]["train"]["features"]["ner_tags"]
    assert tags["feature"]["_type"] == "ClassLabel" and tags["feature"]["names"][0] == "O"


def test_chem_dis_gene_sample_export_round_trips_every_config(exported) -> None:
    meta = card_yaml(exported["chem_dis_gene"])
    configs = [c["config_name"] for c in meta["configs"]]
    assert "curated_documents" in configs and "ctd_derived_ner" in configs
    loaded = load_in_fresh_process(exported["chem_dis_gene"], configs, exported["tmp"])
    assert_same_as_builders(loaded, "chem_dis_gene", DATA / "chem_dis_gene" / "sample", exported["cache"])
    assert meta["license"] == "cc0-1.0"


def test_card_metadata_lists_files_features_and_counts(exported) -> None:
    folder = exported["bc5cdr"]
    meta = card_yaml(folder)
    assert [c["config_name"] for c in meta["configs"]] == BC5CDR_CONFIGS
    assert meta["configs"][0].get("default") is True
    for config in meta["configs"]:
        for entry in config["data_files"]:
            files = sorted(folder.glob(entry["path"]))
            assert files, entry  # every pattern matches the written shards
    built = load_corpus("bc5cdr", "ner", data_dir=str(DATA / "bc5cdr"), cache_dir=str(exported["cache"]))
    info = {i["config_name"]: i for i in meta["dataset_info"]}["ner"]
    assert Features._from_yaml_list(info["features"]) == built["train"].features
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == {k: v.num_rows for k, v in built.items()}
    text = (folder / "README.md").read_text()
    assert 'load_dataset("someone/bc5cdr", "documents")' in text
    assert "| train | 500 | 9,385 |" in text  # 5203 Chemical + 4182 Disease mentions (data README)
    assert "Annotations in `bigbio_kb`:\n\n| split | documents | entities | relations |" in text
    assert "| train | 500 | 9,385 | 1,038 |" in text and "BigBio" in text  # an entity per mention, 1,038 CID
    assert "doi     = {10.1093/database/baw068}" in text
    # the license as BigBio records it, who says so, and the corpus's own terms
    assert meta["license"] == "other" and meta["license_name"] == "public-domain-mark-1.0"
    assert "public-domain-mark-1.0 (<https://creativecommons.org/publicdomain/mark/1.0/>), as recorded by BigBio" in text
    assert "see <https://biocreative.bioinformatics.udel.edu/tasks/biocreative-v/track-3-cdr/>" in text


def test_sharded_split_reads_back_in_order(tmp_path, exported) -> None:
    built = load_corpus("bc5cdr", "re", data_dir=str(DATA / "bc5cdr"), cache_dir=str(exported["cache"]))
    train = built["train"]
    assert shard_count(train.data.nbytes, train.num_rows, train.data.nbytes // 3 + 1) == 3
    files = export_dataset_dicts(
        {"re": built}, tmp_path / "out", corpus="bc5cdr", max_shard_bytes=train.data.nbytes // 3 + 1
    )
    assert sum("re/train-" in str(f) for f in files) == 3
    loaded = load_in_fresh_process(tmp_path / "out", ["re"], tmp_path)
    assert loaded["re"]["train"]["rows"] == train.to_list()


def test_export_refuses_a_non_empty_folder(tmp_path, exported) -> None:
    (tmp_path / "old.txt").write_text("x")
    built = load_corpus("bc5cdr", "re", data_dir=str(DATA / "bc5cdr"), cache_dir=str(exported["cache"]))
    with pytest.raises(FileExistsError, match="not an empty folder"):
        export_dataset_dicts({"re": built}, tmp_path, corpus="bc5cdr")
    assert shard_count(10, 2, 1) == 2  # never more shards than rows


def test_push_to_hub_dataset_publishes_bigbio_kb_loadable_by_name(tmp_path, exported) -> None:
    from biomed_nerre.hub.cli import main as push_to_hub

    out = tmp_path / "bigbio"
    assert push_to_hub(["dataset", "bc5cdr", "--data-dir", str(DATA / "bc5cdr"), "--cache-dir", str(exported["cache"]),
                        "--config", "bigbio_kb", "--local-dir", str(out)]) == 0
    assert [c["config_name"] for c in card_yaml(out)["configs"]] == ["bigbio_kb"]
    loaded = load_in_fresh_process(out, ["bigbio_kb"], tmp_path)["bigbio_kb"]
    assert {split: len(d["rows"]) for split, d in loaded.items()} == {"train": 500, "validation": 500, "test": 500}
    relations = {split: sum(len(row["relations"]) for row in d["rows"]) for split, d in loaded.items()}
    assert relations == {"train": 1038, "validation": 1012, "test": 1066}  # the published CID counts
