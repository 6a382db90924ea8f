"""Long documents through `predict.py`: peak RSS and seconds of one whole process per document length; and the
time to build a corpus whose one document holds many mentions.

    python bench/long_documents.py --model models/quickstart-bc5cdr-minilm
    python bench/long_documents.py --model ... --shapes fulltext --lengths 10000 100000 400000 1000000
    python bench/long_documents.py --corpus-mentions 84000

One document per run, written as JSONL (`{"pmid", "text"}`), in two shapes built from BC5CDR *training and
validation* abstracts (never test), each abstract as `title + " " + abstract`, abstracts separated by a blank
line, cut at the last space before the length:

- fulltext: the first ten training abstracts repeated. Like a full-text article, the concepts stay few while
  the mentions grow with the text.
- worstcase: distinct abstracts concatenated (training, then validation; 1,000 abstracts make about 1.1 million
  characters). Entities grow with the text, and candidate pairs with its square.

Each run is `python predict.py --model M --input doc.jsonl --output out.jsonl --no-progress` on its own,
timed from start to exit; its peak RSS is the kernel's high-water mark of that child (`os.wait4`'s rusage).
A run still going after `--max-seconds` is killed and reported as such. Prints one JSON line per run: seconds,
peak RSS (MiB), characters, tokens, mentions, entities and candidate pairs of the output.

With `--corpus-mentions N`, no prediction: the training and validation abstracts (with their gold annotations)
are concatenated, repeated as needed, into one PubTator document of N mentions, written as the training split
of a BC5CDR-layout folder (validation and test hold its first abstract), and the `documents` and `ner` views are
built from it with `load_corpus` in a fresh cache; prints the seconds of each build.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from dataclasses import replace
from typing import Iterator, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import bench_parser  # noqa: E402
from loaders.pubtator import RawDocument  # noqa: E402

LENGTHS = (10_000, 25_000, 50_000, 100_000, 200_000, 400_000, 1_000_000)
SHAPES = ("fulltext", "worstcase")
FULLTEXT_ABSTRACTS = 10
SEPARATOR = "\n\n"


def abstracts(data_dir: Path) -> Iterator[str]:
    """`title + " " + abstract` of the BC5CDR training abstracts, then the validation ones, in file order."""
    from loaders.pubtator import iter_pubtator

    for name in ("CDR_TrainingSet.PubTator.txt", "CDR_DevelopmentSet.PubTator.txt"):
        for document in iter_pubtator(data_dir / name, None, None):
            yield document.text


def concatenate(documents: Sequence[RawDocument], pmid: str) -> RawDocument:
    """One PubTator document whose text is the documents' texts joined by single spaces: the first one's title
    as title, the rest as abstract, every mention moved to its place in the joined text, every relation kept."""
    pieces, mentions, relations, offset = [], [], [], 0
    for document in documents:
        text = document.text
        pieces.append(text)
        mentions.extend(replace(m, start=m.start + offset, end=m.end + offset, line=0) for m in document.mentions)
        relations.extend(replace(r, path="", line=0) for r in document.relations)
        offset += len(text) + 1
    text = " ".join(pieces)
    title = documents[0].title
    return RawDocument(pmid, title, text[len(title) + 1 :], mentions, relations)


def one_document_corpus(data_dir: Path, mentions: int, folder: Path) -> RawDocument:
    """A BC5CDR-layout `folder` whose training split is one document of at least `mentions` gold mentions (the
    training and validation abstracts, repeated as needed); validation and test hold the first abstract."""
    from loaders.pubtator import iter_pubtator, write_pubtator

    source = [document for name in ("CDR_TrainingSet.PubTator.txt", "CDR_DevelopmentSet.PubTator.txt")
              for document in iter_pubtator(data_dir / name, None, None)]
    chosen, count = [], 0
    while count < mentions:
        document = source[len(chosen) % len(source)]
        chosen.append(document)
        count += len(document.mentions)
    folder.mkdir(parents=True, exist_ok=True)
    long_document = concatenate(chosen, "90000000")
    write_pubtator(folder / "CDR_TrainingSet.PubTator.txt", [long_document])
    for name in ("CDR_DevelopmentSet.PubTator.txt", "CDR_TestSet.PubTator.txt"):
        write_pubtator(folder / name, [replace(source[0], pmid="1")])
    return long_document


def time_corpus_builds(folder: Path, views: Sequence[str] = ("documents", "ner")) -> dict[str, float]:
    """Seconds to build each view of the BC5CDR-layout `folder`, each in a fresh `datasets` cache."""
    from loaders import prepare_corpus

    seconds = {}
    for view in views:
        with tempfile.TemporaryDirectory(prefix="long-corpus-cache-") as cache:
            started = time.perf_counter()
            prepare_corpus("bc5cdr", view, data_dir=str(folder), cache_dir=cache)
            seconds[view] = time.perf_counter() - started
    return seconds


def long_text(data_dir: Path, shape: str, length: int) -> str:
    """A text of at most `length` characters (cut at the last space before it) in `shape`."""
    if shape == "fulltext":
        source = list(abstracts(data_dir))[:FULLTEXT_ABSTRACTS]
        pieces = (source[k % len(source)] for k in range(length))  # more than enough pieces
    elif shape == "worstcase":
        pieces = iter(abstracts(data_dir))
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    parts, size = [], 0
    for piece in pieces:
        parts.append(piece)
        size += len(piece) + len(SEPARATOR)
        if size >= length:
            break
    else:
        raise SystemExit(f"the training and validation abstracts make only {size:,} characters, not {length:,}")
    text = SEPARATOR.join(parts)[:length]
    return text[: text.rindex(" ")] if len(text) == length and " " in text else text


def run_to_end(command: list[str], log: Path, max_seconds: float) -> tuple[float, float, int | None]:
    """(wall seconds, peak RSS MiB, exit status or None when killed at `max_seconds`) of one child process."""
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > max_seconds:
                os.kill(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = -signal.SIGKILL
                return time.perf_counter() - started, usage.ru_maxrss / 1024, None
            time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, process.returncode


def candidate_pairs(entities: list[dict], relation_types: dict[str, list[str]]) -> int:
    """Ordered (head, tail) pairs of distinct entities whose types some relation label links."""
    allowed = {tuple(signature) for signature in relation_types.values()}
    count_of: dict[str, int] = {}
    for entity in entities:
        count_of[entity["type"]] = count_of.get(entity["type"], 0) + 1
    return sum(count_of.get(h, 0) * count_of.get(t, 0) - (count_of.get(h, 0) if h == t else 0) for h, t in allowed)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--model", help="A trained joint model folder (needed unless --corpus-mentions).")
    parser.add_argument("--corpus-mentions", type=int, default=0,
                        help="time building a corpus of one document with this many mentions instead")
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--lengths", nargs="+", type=int, default=list(LENGTHS), help="document lengths in characters")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="kill a run after this long (default: an hour)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work-dir", default=None, help="where documents and outputs go (default: a temporary folder)")
    args = parser.parse_args()
    if args.corpus_mentions:
        folder = Path(args.work_dir or tempfile.mkdtemp(prefix="long-corpus-")) / "bc5cdr"
        document = one_document_corpus(Path(args.data_dir), args.corpus_mentions, folder)
        seconds = time_corpus_builds(folder)
        print(json.dumps({"mentions": len(document.mentions), "characters": len(document.text),
                          **{f"{view}_seconds": round(s, 1) for view, s in seconds.items()}}))
        return
    if not args.model:
        parser.error("--model is required (unless --corpus-mentions)")

    from transformers import AutoTokenizer

    relation_types = json.loads((Path(args.model) / "config.json").read_text())["relation_types"]
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="long-documents-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)
    for shape in args.shapes:
        for length in args.lengths:
            name = f"{shape}-{length}"
            text = long_text(Path(args.data_dir), shape, length)
            source = work / f"{name}.jsonl"
            source.write_text(json.dumps({"pmid": name, "text": text}) + "\n", encoding="utf-8")
            output = work / f"{name}.out.jsonl"
            command = [sys.executable, "predict.py", "--model", args.model, "--input", str(source), "--output",
                       str(output), "--batch-size", str(args.batch_size), "--no-progress", "--overwrite"]
            seconds, peak, status = run_to_end(command, work / f"{name}.log", args.max_seconds)
            record = {"shape": shape, "length": length, "characters": len(text),
                      "tokens": len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]),
                      "seconds": round(seconds, 1), "peak_rss_mib": round(peak)}
            if status is None:
                record["outcome"] = f"killed after {args.max_seconds:.0f} s"
            elif status != 0:
                record["outcome"] = f"exit {status}: {(work / f'{name}.log').read_text()[-500:]!r}"
            else:
                result = json.loads(output.read_text(encoding="utf-8").splitlines()[0])
                record.update(outcome="done", mentions=len(result["mentions"]), entities=len(result["entities"]),
                              pairs=candidate_pairs(result["entities"], relation_types),
                              relations=len(result["relations"]))
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
