"""The official BioCreative V CDR evaluation (Java kit) in BioC and in PubTator mode on the same predictions.

    python bench/official_eval_bioc.py --model models/quickstart-bc5cdr-minilm --kit PATH/BC5CDR_Evaluation-0.0.3 \
        [--data-dir ../shared/data/bc5cdr] [--out results/official-eval-bioc]

1. `predict.py` over the test set's PubTator file, written as BioC XML (the corpus's layout, the default for a
   Chemical/Disease model): `pred.xml`;
2. `predict.py` over `pred.xml` (BioC input), written as PubTator: `pred.PubTator.txt`, the same predictions;
3. the gold in the corpus's BioC layout, written from the PubTator release (`gold_results` + `write_bioc`; the
   release's own CDR_TestSet.BioC.xml, where you have it, gives the same sets);
4. the kit's `mention` and `id` evaluations per type and its `relation` evaluation of CID, each in BioC mode (gold
   BioC, `pred.xml`) and PubTator mode (gold PubTator, `pred.PubTator.txt`), and this project's recomputation
   (`biomed_nerre.evaluation.bc5cdr_eval`) on the BioC files.

Prints one row per evaluation: TP, FP, FN and F-score in each mode; exits 1 when the modes disagree. The kit
(BC5CDR_Evaluation-0.0.3, bc5cdr_eval.jar) comes with the corpus release (GitHub mirror:
JHnlp/BioCreative-V-CDR-Corpus, BC5CDR_Evaluation-0.0.3.zip) and needs Java; it is not part of this project.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, bench_parser  # noqa: E402

EVALUATIONS = [("mention", "Chemical"), ("mention", "Disease"), ("id", "Chemical"), ("id", "Disease"),
               ("relation", "CID")]


def kit(jar: Path, evaluation: str, argument: str, mode: str, gold: Path, predicted: Path) -> dict[str, str]:
    """The kit's summary lines (`TP: 4603` ...) as a dict."""
    done = subprocess.run(["java", "-cp", str(jar), "ncbi.bc5cdr_eval.Evaluate", evaluation, argument, mode, str(gold),
                           str(predicted)], capture_output=True, text=True, timeout=900, check=True)
    return dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line and not line.startswith("INFO"))


def predict(model: str, source: Path, output: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "predict.py"), "--model", model, "--input", str(source), "--output",
                    str(output), "--overwrite", "--no-progress"], cwd=REPO, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--kit", required=True, type=Path, help="the unpacked BC5CDR_Evaluation-0.0.3 folder")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "official-eval-bioc")
    args = parser.parse_args()
    from biomed_nerre.evaluation.bc5cdr_eval import score_files
    from biomed_nerre.evaluation.writers import gold_results, write_bioc
    from loaders import load_corpus

    gold_pubtator = Path(args.data_dir) / "CDR_TestSet.PubTator.txt"
    args.out.mkdir(parents=True, exist_ok=True)
    pred_xml, pred_pubtator, gold_xml = args.out / "pred.xml", args.out / "pred.PubTator.txt", args.out / "gold.BioC.xml"
    seconds = predict(args.model, gold_pubtator, pred_xml), predict(args.model, pred_xml, pred_pubtator)
    print(f"predict.py: PubTator -> BioC {seconds[0]:.1f} s, BioC -> PubTator {seconds[1]:.1f} s")
    documents = [dict(d) for d in load_corpus("bc5cdr", "documents", data_dir=args.data_dir,
                                              cache_dir=str(args.out / "cache"))["test"]]
    write_bioc(gold_xml, documents, gold_results(documents))
    jar = args.kit / "bc5cdr_eval.jar"
    ours = {**score_files(gold_xml, pred_xml, measure="id"), **{
        f"mention {t}": s for t, s in score_files(gold_xml, pred_xml, measure="mention").items()}}
    agree = True
    print(f"{'evaluation':18} {'BioC mode (TP FP FN F)':40} {'PubTator mode':40} bc5cdr_eval on the BioC files")
    for evaluation, argument in EVALUATIONS:
        in_bioc = kit(jar, evaluation, argument, "BioC", gold_xml, pred_xml)
        in_pubtator = kit(jar, evaluation, argument, "PubTator", gold_pubtator, pred_pubtator)
        key = argument if evaluation != "mention" else f"mention {argument}"
        row = ours[key]
        cells = [" ".join(s[k] for k in ("TP", "FP", "FN")) + f" {float(s['F-score']):.4f}"
                 for s in (in_bioc, in_pubtator)]
        mine = f"{row['tp_pred']} {row['n_pred'] - row['tp_pred']} {row['n_gold'] - row['tp_pred']} {row['f1']:.4f}"
        print(f"{evaluation + ' ' + argument:18} {cells[0]:40} {cells[1]:40} {mine}")
        agree &= cells[0] == cells[1] == mine
    print("the modes agree" if agree else "THE MODES DISAGREE")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
