"""The BioCreative V CDR evaluation's measures, recomputed from PubTator or BioC files alone.

What the official kit (BC5CDR_Evaluation) scores, and so what this module scores from a gold and a predicted
file: `id`, per document the set of unique (type, id) of the mentions (a composite id `D001|D002` counts each id;
`-1` is not counted); `relation`, per document the set of (chemical id, disease id) of the `CID` relations;
`mention`, per document the set of (start, end, type) of the mentions; micro precision, recall and F1 over the
documents of the gold file (or those given). Each file is PubTator, or BioC (`.xml` / `.json`, optionally `.gz`)
in either layout of `prediction.bioc_layout` (BC5CDR's own, as the kit reads it, or PubTator3's): a file and its
BioC twin give the same sets (a test checks it). A composite mention's `IndividualMention` parts in the corpus's
BioC files repeat the composite's ids and have no PubTator line: they add no id and are not mentions here.
`evaluate.py` writes `predictions_end2end.PubTator.txt`; its `metrics.json` figures `concept_ids` and
`re_end2end_ids` must equal what this module computes on that file (a test checks it).

    python -m biomed_nerre.evaluation.bc5cdr_eval GOLD.PubTator.txt PREDICTED.PubTator.txt
    python -m biomed_nerre.evaluation.bc5cdr_eval GOLD.BioC.xml PREDICTED.xml
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from biomed_nerre.prediction.bioc_layout import annotation_concepts, is_individual_mention, relation_concepts
from biomed_nerre.prediction.readers import Problem, input_format_for, iter_bioc_documents
from loaders.pubtator import iter_pubtator
from modeling.outputs_joint_ner_re import UNLINKED_RAW_IDS

from .counts import prf

CID_TYPES = ("Chemical", "Disease")  # the CID relation's (head, tail) types


@dataclass
class FileAnnotations:
    """What the measures compare, per pmid: every document of the file appears in each, possibly with an empty set."""

    concepts: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # {(type, id)}
    relations: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # {(chemical id, disease id)} of CID
    mentions: dict[str, set[tuple[int, int, str]]] = field(default_factory=dict)  # {(start, end, type)}


def read_file(path: str | Path) -> FileAnnotations:
    """The annotations of a PubTator file (the project's one strict reader) or a BioC file (either layout)."""
    if input_format_for(str(path)) in ("bioc-xml", "bioc-json"):
        return _read_bioc(path)
    found = FileAnnotations()
    for document in iter_pubtator(path, None, None):
        found.concepts[document.pmid] = {(m.type, i) for m in document.mentions for i in m.ids
                                         if i not in UNLINKED_RAW_IDS}
        found.relations[document.pmid] = {(r.head, r.tail) for r in document.relations if r.label == "CID"}
        found.mentions[document.pmid] = {(m.start, m.end, m.type) for m in document.mentions}
    return found


def _read_bioc(path: str | Path) -> FileAnnotations:
    found = FileAnnotations()
    for item in iter_bioc_documents(str(path)):
        if isinstance(item, Problem):
            raise ValueError(str(item))
        doc = item[1]
        concepts, mentions, relations = set(), set(), set()
        for annotation in (a for p in doc.passages for a in p.annotations):
            entity_type, ids = annotation_concepts(annotation.infons)
            concepts.update((entity_type, i) for i in ids)
            if not is_individual_mention(annotation.infons) and annotation.locations:
                span = annotation.total_span
                mentions.add((span.offset, span.end, entity_type))
        for relation in doc.relations:
            found_relation = relation_concepts(relation.infons, CID_TYPES)
            if found_relation is not None and found_relation[0] == "CID":
                relations.add(found_relation[1:])
        found.concepts[doc.id], found.mentions[doc.id], found.relations[doc.id] = concepts, mentions, relations
    return found


def read_annotations(path: str | Path) -> tuple[dict[str, set[tuple[str, str]]], dict[str, set[tuple[str, str]]]]:
    """(pmid -> {(type, id)}, pmid -> {(chemical id, disease id)}) of a PubTator or BioC file (`read_file`)."""
    found = read_file(path)
    return found.concepts, found.relations


def _micro(gold: dict[str, set], predicted: dict[str, set], documents: list[str],
           key: Callable[[tuple], str]) -> dict[str, list[int]]:
    """[tp, predicted, gold] per `key(item)` of per-document sets, over `documents`."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for pmid in documents:
        g, p = gold.get(pmid, set()), predicted.get(pmid, set())
        for item in g | p:
            c = counts[key(item)]
            c[0] += item in g and item in p
            c[1] += item in p
            c[2] += item in g
    return counts


def score_files(gold_path: str | Path, predicted_path: str | Path, pmids: set[str] | None = None,
                measure: str = "id") -> dict:
    """P/R/F1 over the gold file's documents (or `pmids`): `measure` "id" gives each entity type's concept ids and
    CID (the kit's `id` and `relation` evaluations); "mention" each entity type's mention spans."""
    if measure not in ("id", "mention"):
        raise ValueError(f"unknown measure {measure!r}; expected 'id' or 'mention'")
    gold, predicted = read_file(gold_path), read_file(predicted_path)
    documents = sorted(pmids if pmids is not None else gold.concepts)
    if measure == "mention":
        counts = _micro(gold.mentions, predicted.mentions, documents, key=lambda item: item[2])
        return {name: prf(tp, n_pred, tp, n_gold) for name, (tp, n_pred, n_gold) in sorted(counts.items())}
    return _score_ids(gold, predicted, documents)


def _score_ids(gold: FileAnnotations, predicted: FileAnnotations, documents: list[str]) -> dict:
    counts = _micro(gold.concepts, predicted.concepts, documents, key=lambda item: item[0])
    counts["CID"] = _micro(gold.relations, predicted.relations, documents, key=lambda item: "CID")["CID"]
    return {name: prf(tp, n_pred, tp, n_gold) for name, (tp, n_pred, n_gold) in sorted(counts.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a predicted PubTator or BioC file against a gold one the "
                                     "BioCreative V CDR way (concept ids per document, CID pairs, mention spans).")
    parser.add_argument("gold", help="gold PubTator or BioC file (e.g. CDR_TestSet.PubTator.txt, CDR_TestSet.BioC.xml)")
    parser.add_argument("predicted", help="predicted PubTator or BioC file (e.g. predictions_end2end.PubTator.txt)")
    parser.add_argument("--predicted-documents-only", action="store_true",
                        help="score only the documents of the predicted file (a run with --limit)")
    args = parser.parse_args(argv)
    try:
        pmids = set(read_annotations(args.predicted)[0]) if args.predicted_documents_only else None
        ids = score_files(args.gold, args.predicted, pmids, "id")
        mentions = score_files(args.gold, args.predicted, pmids, "mention")
    except (ValueError, OSError) as err:  # a malformed or missing file: one line naming it (and the line)
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = [(f"id {name}", s) for name, s in ids.items() if name != "CID"] + [("relation CID", ids["CID"])]
    rows += [(f"mention {name}", s) for name, s in mentions.items()]
    for label, s in rows:  # the kit's three evaluations: id, relation, mention
        print(f"{label:18} P {s['precision']:.4f} R {s['recall']:.4f} F1 {s['f1']:.4f} "
              f"(tp {s['tp_pred']}, predicted {s['n_pred']}, gold {s['n_gold']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
