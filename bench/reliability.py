"""What the checks of issue 29 cost: the SHA-256 fingerprint that ties a resumable `predict.py` run to the
model's content (`biomed_nerre.prediction.fingerprint`), the damage checks made before a model folder is
loaded (`modeling.files_joint_ner_re.check_model_folder`), next to loading the model and predicting documents;
and the corpus builders' id-form and completeness checks, next to reading the three BC5CDR files without them.

    python bench/reliability.py --model models/quickstart-bc5cdr-minilm [--documents 100] [--repeats 3]

Each figure is the best of `--repeats` runs (the files are in the page cache after the first). Prints the
bytes hashed, the seconds of each step and their ratios.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import bench_parser  # noqa: E402


def best_of(repeats: int, step) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = step()
        best = min(best, time.perf_counter() - start)
    return best, value


def main(argv=None) -> dict:
    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--documents", type=int, default=100, help="BC5CDR test abstracts predicted (default 100)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    from biomed_nerre.prediction.fingerprint import code_sha256, folder_files, role_of
    from biomed_nerre.prediction.runner import load_pretrained
    from loaders.ids import id_check
    from loaders.pubtator import iter_pubtator
    from loaders.schema import ENTITY_TYPES, RELATION_TYPES
    from modeling.files_joint_ner_re import check_model_folder

    corpus = sorted(Path(args.data_dir).glob("CDR_*Set.PubTator.txt"))

    def read_corpus(checked: bool) -> int:
        extra = {"check_id": id_check("bc5cdr"), "complete": True} if checked else {}
        return sum(len(d.mentions) for path in corpus
                   for d in iter_pubtator(path, ENTITY_TYPES["bc5cdr"], RELATION_TYPES["bc5cdr"], **extra))

    plain_read_s, mentions = best_of(args.repeats, lambda: read_corpus(False))
    checked_read_s, _ = best_of(args.repeats, lambda: read_corpus(True))

    folder = Path(args.model)
    hashed = sum(p.stat().st_size for p in folder.rglob("*")
                 if p.is_file() and role_of(p.relative_to(folder).as_posix()) is not None)
    fingerprint_s, files = best_of(args.repeats, lambda: folder_files(folder))
    code_s, _ = best_of(args.repeats, code_sha256)
    check_s, _ = best_of(args.repeats, lambda: check_model_folder(folder))
    load_s, (model, tokenizer) = best_of(1, lambda: load_pretrained(str(folder)))
    model.eval()
    documents = [{"pmid": d.pmid, "text": d.text}
                 for d, _ in zip(iter_pubtator(Path(args.data_dir) / "CDR_TestSet.PubTator.txt", None, None),
                                 range(args.documents))]
    predict_s, _ = best_of(1, lambda: model.extract(documents, tokenizer, batch_size=8))
    figures = {
        "files_hashed": len(files), "mb_hashed": hashed / 2**20, "fingerprint_s": fingerprint_s,
        "fingerprint_mb_per_s": hashed / 2**20 / fingerprint_s, "code_hash_s": code_s,
        "check_model_folder_s": check_s, "load_s": load_s, f"predict_{len(documents)}_docs_s": predict_s,
        "fingerprint_over_load": (fingerprint_s + code_s) / load_s,
        "fingerprint_over_predict": (fingerprint_s + code_s) / predict_s, "torch_threads": torch.get_num_threads(),
        "bc5cdr_mentions_read": mentions, "bc5cdr_read_s": plain_read_s, "bc5cdr_read_with_id_checks_s": checked_read_s,
        "id_checks_over_read": checked_read_s / plain_read_s,
    }
    for key, value in figures.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    return figures


if __name__ == "__main__":
    main()
