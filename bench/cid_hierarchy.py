"""Does the MeSH hierarchy help end-to-end CID? BC5CDR annotates a CID pair to the most specific disease, so
when a chemical is predicted with a disease and with one of that disease's MeSH ancestors in one abstract, the
ancestor pair may be dropped. Scores end-to-end CID on concept ids on validation, with and without that rule.

    python bench/cid_hierarchy.py --model MODEL --linker LINKER_DIR --data-dir ../shared/data/bc5cdr \
        --vocab-dir ../shared/data/vocab [--split validation]

LINKER_DIR should be built from train names only when scoring validation (`python -m biomed_nerre.linking build --splits
train`). Prints both F1s; the rule is worth keeping only if it helps on validation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biomed_nerre.evaluation.linking_metrics import relation_id_scores  # noqa: E402
from biomed_nerre.evaluation.run import load_documents, load_model  # noqa: E402
from biomed_nerre.linking.vocabularies import VocabularyReport, read_mesh_descriptors_tsv  # noqa: E402
from modeling.linking_joint_ner_re import ConceptLinker  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="trained joint model folder")
    parser.add_argument("--linker", required=True, help="linker folder (ConceptLinker.save)")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/bc5cdr"))
    parser.add_argument("--vocab-dir", default=str(REPO.parent / "shared/data/vocab"))
    parser.add_argument("--split", default="validation")
    parser.add_argument("--batch-size", type=int, default=16)
    return parser.parse_args(argv)


def mesh_ancestors(descriptors_path: str) -> dict[str, set[str]]:
    """MESH:<id> -> the CURIEs of all its ancestors (tree-number prefixes), over the descriptors file."""
    report = VocabularyReport()
    for _ in read_mesh_descriptors_tsv(descriptors_path, report):
        pass
    by_tree = {t: d for d, trees in report.tree_numbers.items() for t in trees}
    ancestors: dict[str, set[str]] = {}
    for descriptor, trees in report.tree_numbers.items():
        found = set()
        for tree in trees:
            parts = tree.split(".")
            for k in range(1, len(parts)):
                parent = by_tree.get(".".join(parts[:k]))
                if parent and parent != descriptor:
                    found.add("MESH:" + parent)
        ancestors["MESH:" + descriptor] = found
    return ancestors


def drop_ancestor_pairs(result: dict, ancestors: dict[str, set[str]]) -> dict:
    """The result without (chemical, disease) pairs whose disease is an ancestor of another predicted disease
    of the same chemical."""
    by_head: dict[str, set[str]] = {}
    for r in result["relations"]:
        by_head.setdefault(r["head"], set()).add(r["tail"])
    kept = [
        r for r in result["relations"]
        if not any(r["tail"] in ancestors.get(other, ()) for other in by_head[r["head"]] if other != r["tail"])
    ]
    return {**result, "relations": kept}


def main(argv=None) -> dict:
    args = parse_args(argv)
    model, tokenizer = load_model(args.model, device="cpu")
    model.set_linker(ConceptLinker.load(args.linker))
    documents = load_documents("bc5cdr", args.split, data_dir=args.data_dir)
    results = model.extract(documents, tokenizer, mode="end2end", batch_size=args.batch_size)
    ancestors = mesh_ancestors(str(Path(args.vocab_dir) / "mesh_descriptors_2023.tsv"))
    plain = relation_id_scores(documents, results)["micro"]
    filtered = relation_id_scores(documents, [drop_ancestor_pairs(r, ancestors) for r in results])["micro"]
    for name, s in (("as predicted", plain), ("ancestor pairs dropped", filtered)):
        print(f"{args.split} end-to-end CID on ids, {name}: P {s['precision']:.4f} R {s['recall']:.4f} "
              f"F1 {s['f1']:.4f} (predicted {s['n_pred']}, tp {s['tp_pred']}, gold {s['n_gold']})")
    return {"plain": plain, "filtered": filtered}


if __name__ == "__main__":
    main()
