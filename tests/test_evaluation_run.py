"""evaluate_model / the CLI on real corpus documents with a tiny random model saved like a trained one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from biomed_nerre.evaluation.run import evaluate_model, main
from biomed_nerre.evaluation.scoring import score_documents
from loaders import load_corpus
from loaders.pubtator import iter_pubtator
from loaders.schema import CHEM_DIS_GENE_LABELS, ENTITY_TYPES, RELATION_TYPES
from tests.tiny_encoder import write_tiny_encoder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BC5CDR, CHEM_DIS_GENE = DATA / "bc5cdr", DATA / "chem_dis_gene" / "sample"


def save_tiny_model(folder: Path, corpus: str) -> Path:
    """A random model saved like train.py saves one. re_threshold=-1e9 predicts every allowed label, so gold
    mode writes rows; a small bias towards "O" keeps end2end at a few dozen mentions (fast, still non-empty)."""
    import torch

    from modeling import SciBertForJointNerRe, load_tokenizer

    encoder = write_tiny_encoder(folder / "encoder", lowercase=False)
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(encoder, entity_types=ENTITY_TYPES[corpus],
                                              relation_types=RELATION_TYPES[corpus], window_length=64, stride=16,
                                              re_block_size=8, re_threshold=-1e9)
    with torch.no_grad():
        model.ner_classifier.bias[0] += 0.3
    model.save_pretrained(folder / "model")
    load_tokenizer(str(encoder)).save_pretrained(folder / "model")
    return folder / "model"


def distinct(rows, key) -> int:
    return sum(len({key(r) for r in rows_of_doc}) for rows_of_doc in rows)


def test_gold_as_predictions_scores_one_on_the_whole_bc5cdr_test_split(cache):
    corpus = load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR), cache_dir=str(cache))
    documents = [dict(d) for d in corpus["test"]]
    result = score_documents(documents, {"gold": documents, "end2end": documents}, ENTITY_TYPES["bc5cdr"], ["CID"])
    for scores in (result["ner"]["seqeval"]["micro"], result["ner"]["mentions"]["micro"],
                   result["re_gold"]["micro"], result["re_end2end"]["micro"]):
        assert (scores["precision"], scores["recall"], scores["f1"]) == (1.0, 1.0, 1.0)
    assert result["re_gold"]["micro"]["n_gold"] == 1066  # CID pairs of the test set (shared/data/README.md)
    bio = result["ner"]["bio_view"]
    assert bio["gold_mentions"] == 5385 + 4424
    assert bio["gold_dropped"] == bio["predicted_dropped"] == 0  # no overlapping mentions in BC5CDR test


def test_evaluate_model_on_bc5cdr_writes_kit_readable_files(tmp_path, cache, capsys):
    model_dir = save_tiny_model(tmp_path, "bc5cdr")
    metrics = evaluate_model(str(model_dir), dataset="bc5cdr", split="test", data_dir=str(BC5CDR),
                             cache_dir=str(cache), output_dir=tmp_path / "results", run_name="tiny", limit=3,
                             batch_size=2)
    folder = tmp_path / "results" / "tiny" / "bc5cdr-test"
    names = {p.name for p in folder.iterdir()}
    assert names == {"metrics.json", "predictions_gold.PubTator.txt", "predictions_end2end.PubTator.txt",
                     "ner_per_type_f1.png", "ner_confusion.png", "re_per_label_f1.png"}
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved == {k: v for k, v in metrics.items() if k != "output_dir"}
    documents = list(load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR), cache_dir=str(cache))["test"])[:3]
    assert saved["n_documents"] == 3
    assert saved["re_gold"]["micro"]["n_gold"] == distinct([d["relations"] for d in documents],
                                                          lambda r: (r["head"], r["tail"]))
    assert saved["ner"]["mentions"]["micro"]["n_gold"] == distinct([d["mentions"] for d in documents],
                                                                   lambda m: (m["start"], m["end"], m["type"]))
    for mode in ("gold", "end2end"):
        parsed = list(iter_pubtator(folder / f"predictions_{mode}.PubTator.txt", ["Chemical", "Disease"], ["CID"]))
        assert [p.pmid for p in parsed] == [d["pmid"] for d in documents]
        assert [p.text for p in parsed] == [d["text"] for d in documents]
        # relation lines name concept ids: this model has no linker, so its end2end entities are all NIL
        expected = saved["re_gold"]["micro"]["n_pred"] if mode == "gold" else 0
        assert sum(len(p.relations) for p in parsed) == expected
    end2end = list(iter_pubtator(folder / "predictions_end2end.PubTator.txt", ["Chemical", "Disease"], ["CID"]))
    assert sum(len(p.mentions) for p in end2end) == saved["ner"]["mentions"]["micro"]["n_pred"]
    assert saved["re_gold"]["micro"]["n_pred"] > 0
    gold_file = list(iter_pubtator(folder / "predictions_gold.PubTator.txt", ["Chemical", "Disease"], ["CID"]))
    assert [sorted((m.start, m.end, m.type) for m in p.mentions) for p in gold_file] == [
        sorted((m["start"], m["end"], m["type"]) for m in d["mentions"]) for d in documents]
    out = capsys.readouterr().out
    assert "RE end2end, span-matched (micro)" in out and "NER seqeval strict IOB2 (micro)" in out


def test_cli_on_chem_dis_gene_writes_relationships_tsv(tmp_path, cache, capsys):
    model_dir = save_tiny_model(tmp_path, "chem_dis_gene")
    assert main(["--model", str(model_dir), "--dataset", "chem_dis_gene", "--config", "ctd_derived",
                 "--split", "test", "--data-dir", str(CHEM_DIS_GENE), "--cache-dir", str(cache),
                 "--output-dir", str(tmp_path / "results"), "--modes", "gold", "end2end"]) == 0
    folder = tmp_path / "results" / "model" / "chem_dis_gene-ctd_derived-test"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert list(metrics["re_gold"]["per_label"]) == list(CHEM_DIS_GENE_LABELS)
    assert metrics["re_gold"]["micro"]["n_gold"] == 3  # the sample's three relationships
    for mode in ("gold", "end2end"):
        rows = [line.split("\t") for line in (folder / f"relationships_{mode}.tsv").read_text().splitlines()]
        # rows name concept ids: without a linker the end2end entities are NIL and give none
        assert len(rows) == (metrics["re_gold"]["micro"]["n_pred"] if mode == "gold" else 0)
        assert all(len(r) == 4 and r[0] == "10226872" and r[1] in CHEM_DIS_GENE_LABELS for r in rows)
    assert metrics["re_gold"]["micro"]["n_pred"] > 0
    pubtator = (folder / "predictions_end2end.PubTator.txt").read_text()
    assert pubtator.startswith("10226872|t|") and "\tchem_" not in pubtator
    assert not (folder / "predictions_gold.PubTator.txt").exists()
    assert "chem_gene:affects^binding" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--model", str(model_dir), "--dataset", "nope"])


def test_cli_int8_scores_the_quantized_copy_on_cpu_only(tmp_path, cache):
    model_dir = save_tiny_model(tmp_path, "bc5cdr")
    common = ["--model", str(model_dir), "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache),
              "--limit", "2", "--output-dir", str(tmp_path / "results")]
    assert main(common + ["--run-name", "float"]) == 0
    assert main(common + ["--run-name", "int8", "--int8"]) == 0
    float_metrics, int8_metrics = (
        json.loads((tmp_path / "results" / run / "bc5cdr-test" / "metrics.json").read_text()) for run in ("float", "int8")
    )
    assert (float_metrics["int8"], int8_metrics["int8"]) == (False, True)
    assert int8_metrics["n_documents"] == 2 and "ner" in int8_metrics
    with pytest.raises(ValueError, match="CPU only"):
        main(common + ["--int8", "--device", "cuda"])


def test_cli_parallel_batches_scores_the_same(tmp_path, cache):
    """`--parallel-batches 2` runs extract's CPU batches two at a time; the scores are those of one at a time."""
    model_dir = save_tiny_model(tmp_path, "bc5cdr")
    common = ["--model", str(model_dir), "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache),
              "--limit", "6", "--batch-size", "2", "--output-dir", str(tmp_path / "results")]
    assert main(common + ["--run-name", "one"]) == 0
    assert main(common + ["--run-name", "two", "--parallel-batches", "2"]) == 0
    one, two = (json.loads((tmp_path / "results" / run / "bc5cdr-test" / "metrics.json").read_text())
                for run in ("one", "two"))
    assert (one["parallel_batches"], two["parallel_batches"]) == (1, 2)
    for key in ("ner", "re_gold", "re_end2end"):
        assert one[key] == two[key], key
    with pytest.raises(SystemExit):
        main(common + ["--parallel-batches", "0"])


def test_predict_runs_models_saved_before_extract_modes_one_mode_at_a_time(tmp_path, cache):
    """A model whose saved code has `extract` only (before `extract_modes`) predicts what the current one does."""
    from biomed_nerre.evaluation.run import load_model, predict

    model, tokenizer = load_model(str(save_tiny_model(tmp_path, "bc5cdr")), device="cpu")
    documents = load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR), cache_dir=str(cache))["test"].select(range(3))
    documents = [dict(d) for d in documents]

    class ExtractOnly:  # the interface of such a model: extract, no extract_modes
        extract = model.extract

    current = predict(model, tokenizer, documents, ["gold", "end2end"], batch_size=2)
    older = predict(ExtractOnly(), tokenizer, documents, ["gold", "end2end"], batch_size=2)
    assert older == current and len(current["gold"]) == 3


def test_cli_bfloat16_scores_the_model_in_bf16(tmp_path, cache):
    """`--dtype bfloat16` runs extract with bf16 weights; its predictions stay those of a working model."""
    model_dir = save_tiny_model(tmp_path, "bc5cdr")
    common = ["--model", str(model_dir), "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache),
              "--limit", "2", "--output-dir", str(tmp_path / "results")]
    assert main(common + ["--run-name", "bf16", "--dtype", "bfloat16"]) == 0
    metrics = json.loads((tmp_path / "results" / "bf16" / "bc5cdr-test" / "metrics.json").read_text())
    assert metrics["dtype"] == "bfloat16" and metrics["n_documents"] == 2 and "ner" in metrics
    from biomed_nerre.evaluation.run import load_model

    model, _ = load_model(str(model_dir), device="cpu", dtype="bfloat16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    with pytest.raises(ValueError, match="not both"):
        main(common + ["--int8", "--dtype", "bfloat16"])
    with pytest.raises(SystemExit):
        main(common + ["--dtype", "float8"])
