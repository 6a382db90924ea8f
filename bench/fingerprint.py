"""What tying a resumable `predict.py` run to the model's content costs: the SHA-256 fingerprint of a model
folder (`biomed_nerre.prediction.fingerprint`) and the damage checks made before loading it
(`modeling.files_joint_ner_re.check_model_folder`), next to loading the model and predicting documents.

    python bench/fingerprint.py --model models/quickstart-bc5cdr-minilm [--documents 100] [--repeats 3]

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
    from loaders.pubtator import iter_pubtator
    from modeling.files_joint_ner_re import check_model_folder

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
    }
    for key, value in figures.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    return figures


if __name__ == "__main__":
    main()
