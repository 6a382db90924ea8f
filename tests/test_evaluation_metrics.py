"""Metric functions of evaluation/ against hand-computed values."""

from __future__ import annotations

import pytest

from biomed_nerre.evaluation.counts import prf
from biomed_nerre.evaluation.ner_metrics import mention_scores, seqeval_scores, span_confusion
from biomed_nerre.evaluation.re_metrics import match_entities, relation_scores


def mention(start: int, end: int, etype: str) -> dict:
    return {"start": start, "end": end, "type": etype, "text": "x" * (end - start)}


def doc(mentions=(), entities=(), relations=(), pmid="1") -> dict:
    """A document (gold or predicted) in the shared schema; entities as (id, type, [mention indices])."""
    return {"pmid": pmid, "mentions": list(mentions),
            "entities": [{"id": i, "type": t, "mention_indices": list(m)} for i, t, m in entities],
            "relations": [{"label": label, "head": h, "tail": t} for label, h, t in relations]}


def scores(result: dict) -> tuple[float, float, float]:
    return result["precision"], result["recall"], result["f1"]


# ---------------------------------------------------------------- counts


def test_prf_defines_undefined_ratios_as_zero():
    assert scores(prf(0, 0, 0, 0)) == (0.0, 0.0, 0.0)
    assert scores(prf(0, 3, 0, 0)) == (0.0, 0.0, 0.0)
    assert scores(prf(0, 0, 0, 3)) == (0.0, 0.0, 0.0)
    assert scores(prf(1, 2, 1, 4)) == pytest.approx((0.5, 0.25, 1 / 3))


# ---------------------------------------------------------------- relations, gold mode


def test_gold_mode_micro_and_per_label():
    gold = [doc(relations=[("CID", "C1", "D1"), ("CID", "C2", "D1")])]
    pred = [doc(relations=[("CID", "C1", "D1"), ("CID", "C1", "D2")])]
    result = relation_scores(gold, pred, "gold", labels=["CID"])
    assert scores(result["micro"]) == pytest.approx((0.5, 0.5, 0.5))
    assert result["per_label"]["CID"] == result["micro"]


def test_gold_mode_no_predictions_no_gold_and_neither():
    gold = [doc(relations=[("CID", "C1", "D1")])]
    empty = [doc()]
    no_pred = relation_scores(gold, empty, "gold")["micro"]
    assert scores(no_pred) == (0.0, 0.0, 0.0) and (no_pred["n_pred"], no_pred["n_gold"]) == (0, 1)
    no_gold = relation_scores(empty, gold, "gold")["micro"]
    assert scores(no_gold) == (0.0, 0.0, 0.0) and (no_gold["n_pred"], no_gold["n_gold"]) == (1, 0)
    neither = relation_scores(empty, empty, "gold", labels=["CID"])
    assert scores(neither["micro"]) == (0.0, 0.0, 0.0) and neither["per_label"]["CID"]["n_gold"] == 0
    assert relation_scores([], [], "gold")["micro"]["f1"] == 0.0


def test_duplicated_prediction_counts_once():
    gold = [doc(relations=[("CID", "C1", "D1"), ("CID", "C2", "D2")])]
    pred = [{**doc(relations=[("CID", "C1", "D1")] * 3), "relations": [
        {"label": "CID", "head": "C1", "tail": "D1", "score": s} for s in (0.9, 0.8, 0.7)]}]
    micro = relation_scores(gold, pred, "gold")["micro"]
    assert (micro["n_pred"], micro["tp_pred"]) == (1, 1)
    assert scores(micro) == pytest.approx((1.0, 0.5, 2 / 3))


def test_multi_label_pair_is_two_tuples():
    a, b, c = "chem_gene:increases^activity", "chem_gene:affects^binding", "chem_disease:therapeutic"
    gold = [doc(relations=[(a, "C", "G"), (b, "C", "G")])]
    pred = [doc(relations=[(a, "C", "G"), (c, "C", "D")])]
    result = relation_scores(gold, pred, "gold", labels=[c, a, b])
    assert list(result["per_label"]) == [c, a, b]  # given order kept, zero-support labels reported
    assert scores(result["per_label"][a]) == (1.0, 1.0, 1.0)
    assert scores(result["per_label"][b]) == (0.0, 0.0, 0.0) and result["per_label"][b]["n_gold"] == 1
    assert scores(result["per_label"][c]) == (0.0, 0.0, 0.0) and result["per_label"][c]["n_pred"] == 1
    assert scores(result["micro"]) == pytest.approx((0.5, 0.5, 0.5))


def test_tuples_are_per_document():
    gold = [doc(relations=[("CID", "C1", "D1")], pmid="1"), doc(pmid="2")]
    pred = [doc(pmid="1"), doc(relations=[("CID", "C1", "D1")], pmid="2")]
    assert relation_scores(gold, pred, "gold")["micro"]["tp_pred"] == 0


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="2 gold documents but 1 predictions"):
        relation_scores([doc(), doc()], [doc()], "gold")
    with pytest.raises(ValueError, match="unknown relation evaluation mode"):
        relation_scores([doc()], [doc()], "both")
    with pytest.raises(ValueError, match="no 'tail' field"):
        relation_scores([doc()], [{**doc(), "relations": [{"label": "CID", "head": "E0"}]}], "gold")


# ---------------------------------------------------------------- relations, end2end mode

# Gold: chemical C1 mentioned at [0,5) and [30,35), diseases D1 at [10,15) and D2 at [20,25), and a composite
# disease mention [40,50) that belongs to both D1 and D2. C1 causes D1 and D2.
GOLD = doc(
    mentions=[mention(0, 5, "Chemical"), mention(10, 15, "Disease"), mention(20, 25, "Disease"),
              mention(30, 35, "Chemical"), mention(40, 50, "Disease")],
    entities=[("C1", "Chemical", [0, 3]), ("D1", "Disease", [1, 4]), ("D2", "Disease", [2, 4])],
    relations=[("CID", "C1", "D1"), ("CID", "C1", "D2")],
)


def end2end(pred: dict) -> dict:
    return relation_scores([GOLD], [pred], "end2end", labels=["CID"])["micro"]


def test_end2end_exact_span_and_type_match_through_any_mention():
    pred = doc(mentions=[mention(30, 35, "Chemical"), mention(10, 15, "Disease")],
               entities=[("E0", "Chemical", [0]), ("E1", "Disease", [1])], relations=[("CID", "E0", "E1")])
    micro = end2end(pred)
    assert (micro["tp_pred"], micro["n_pred"], micro["tp_gold"], micro["n_gold"]) == (1, 1, 1, 2)
    assert scores(micro) == pytest.approx((1.0, 0.5, 2 / 3))


@pytest.mark.parametrize("disease", [mention(10, 16, "Disease"), mention(11, 15, "Disease"),
                                     mention(10, 15, "Chemical")], ids=["end+1", "start+1", "wrong-type"])
def test_end2end_span_off_by_one_or_wrong_type_does_not_match(disease):
    pred = doc(mentions=[mention(0, 5, "Chemical"), disease],
               entities=[("E0", "Chemical", [0]), ("E1", disease["type"], [1])], relations=[("CID", "E0", "E1")])
    micro = end2end(pred)
    assert (micro["tp_pred"], micro["tp_gold"], micro["n_pred"]) == (0, 0, 1)
    assert scores(micro) == (0.0, 0.0, 0.0)


def test_end2end_entity_merging_two_gold_entities_stands_for_one_of_them():
    pred = doc(mentions=[mention(0, 5, "Chemical"), mention(10, 15, "Disease"), mention(20, 25, "Disease")],
               entities=[("E0", "Chemical", [0]), ("E1", "Disease", [1, 2])], relations=[("CID", "E0", "E1")])
    # E1 shares one span with D1 and one with D2: the tie goes to D1, first in the gold entity order
    assert match_entities(GOLD, pred) == {"E0": "C1", "E1": "D1"}
    micro = end2end(pred)
    assert (micro["tp_pred"], micro["n_pred"], micro["tp_gold"], micro["n_gold"]) == (1, 1, 1, 2)
    assert scores(micro) == pytest.approx((1.0, 0.5, 2 / 3))


def test_end2end_split_gold_entity_credits_its_gold_tuple_once():
    # gold C1 (spans 0-5 and 30-35) split into E0 and E1, each with the relation to D1: one gold tuple, so one
    # true positive; the other prediction is a false positive (before: 2 correct predictions for 1 gold tuple)
    pred = doc(mentions=[mention(0, 5, "Chemical"), mention(30, 35, "Chemical"), mention(10, 15, "Disease")],
               entities=[("E0", "Chemical", [0]), ("E1", "Chemical", [1]), ("E2", "Disease", [2])],
               relations=[("CID", "E0", "E2"), ("CID", "E1", "E2")])
    assert match_entities(GOLD, pred) == {"E0": "C1", "E2": "D1"}
    micro = end2end(pred)
    assert (micro["tp_pred"], micro["n_pred"], micro["tp_gold"], micro["n_gold"]) == (1, 2, 1, 2)
    assert scores(micro) == pytest.approx((0.5, 0.5, 0.5))
    # split three ways, every part with both relations: still at most the 2 gold tuples credited
    gold = doc(mentions=[mention(0, 5, "Chemical"), mention(10, 15, "Chemical"), mention(20, 25, "Chemical"),
                         mention(30, 35, "Disease"), mention(40, 45, "Disease")],
               entities=[("C1", "Chemical", [0, 1, 2]), ("D1", "Disease", [3]), ("D2", "Disease", [4])],
               relations=[("CID", "C1", "D1"), ("CID", "C1", "D2")])
    parts = doc(mentions=gold["mentions"],
                entities=[("E0", "Chemical", [0]), ("E1", "Chemical", [1]), ("E2", "Chemical", [2]),
                          ("E3", "Disease", [3]), ("E4", "Disease", [4])],
                relations=[("CID", c, d) for c in ("E0", "E1", "E2") for d in ("E3", "E4")])
    micro = relation_scores([gold], [parts], "end2end")["micro"]
    assert (micro["tp_pred"], micro["n_pred"], micro["tp_gold"], micro["n_gold"]) == (2, 6, 2, 2)


def test_end2end_split_entity_is_matched_through_the_part_sharing_most_spans():
    gold = doc(mentions=[mention(0, 5, "Chemical"), mention(10, 15, "Chemical"), mention(20, 25, "Chemical"),
                         mention(30, 35, "Disease")],
               entities=[("C1", "Chemical", [0, 1, 2]), ("D1", "Disease", [3])], relations=[("CID", "C1", "D1")])
    pred = doc(mentions=gold["mentions"],
               entities=[("E0", "Chemical", [0]), ("E1", "Chemical", [1, 2]), ("E2", "Disease", [3])],
               relations=[("CID", "E0", "E2")])
    assert match_entities(gold, pred) == {"E1": "C1", "E2": "D1"}
    assert relation_scores([gold], [pred], "end2end")["micro"]["tp_pred"] == 0


def test_end2end_matching_is_an_optimal_assignment_not_a_greedy_one():
    # P1 shares a span with G1 and one with G2, P2 only with G1: taking P1-G1 first would leave P2 and G2
    # unmatched; the assignment matches both
    gold = doc(mentions=[mention(0, 5, "Disease"), mention(10, 15, "Disease"), mention(20, 25, "Disease")],
               entities=[("G1", "Disease", [0, 1]), ("G2", "Disease", [2])])
    pred = doc(mentions=[mention(0, 5, "Disease"), mention(20, 25, "Disease"), mention(10, 15, "Disease")],
               entities=[("P1", "Disease", [0, 1]), ("P2", "Disease", [2])])
    assert match_entities(gold, pred) == {"P1": "G2", "P2": "G1"}


def test_end2end_composite_mention_matches_one_of_its_gold_entities():
    pred = doc(mentions=[mention(0, 5, "Chemical"), mention(40, 50, "Disease")],
               entities=[("E0", "Chemical", [0]), ("E1", "Disease", [1])], relations=[("CID", "E0", "E1")])
    assert match_entities(GOLD, pred)["E1"] == "D1"
    micro = end2end(pred)
    assert (micro["tp_pred"], micro["tp_gold"]) == (1, 1)


def test_end2end_direction_label_and_duplicates():
    mentions = [mention(0, 5, "Chemical"), mention(10, 15, "Disease")]
    entities = [("E0", "Chemical", [0]), ("E1", "Disease", [1])]
    reversed_pair = end2end(doc(mentions, entities, [("CID", "E1", "E0")]))
    assert (reversed_pair["tp_pred"], reversed_pair["n_pred"]) == (0, 1)
    other_label = relation_scores([GOLD], [doc(mentions, entities, [("XYZ", "E0", "E1")])], "end2end")
    assert other_label["per_label"]["XYZ"]["tp_pred"] == 0 and other_label["per_label"]["CID"]["tp_gold"] == 0
    twice = end2end(doc(mentions, entities, [("CID", "E0", "E1")] * 2))
    assert (twice["tp_pred"], twice["n_pred"], twice["tp_gold"]) == (1, 1, 1)


def test_end2end_no_predicted_entities_and_unknown_entity_id():
    micro = end2end(doc())
    assert (micro["n_pred"], micro["n_gold"]) == (0, 2) and scores(micro) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="names entity 'E9'"):
        end2end(doc([mention(0, 5, "Chemical")], [("E0", "Chemical", [0])], [("CID", "E0", "E9")]))
    with pytest.raises(ValueError, match="points at mention 3"):
        end2end(doc([mention(0, 5, "Chemical")], [("E0", "Chemical", [3])], []))


# ---------------------------------------------------------------- NER mentions and confusion

GOLD_NER = doc(mentions=[mention(0, 5, "Chemical"), mention(10, 15, "Disease"), mention(20, 25, "Disease")])
PRED_NER = doc(mentions=[mention(0, 5, "Chemical"), mention(10, 15, "Chemical"), mention(20, 26, "Disease"),
                         mention(0, 5, "Chemical")])


def test_mention_scores_exact_span_and_type_per_type_with_duplicates():
    result = mention_scores([GOLD_NER], [PRED_NER], entity_types=["Chemical", "Disease", "Gene"])
    chemical, disease, gene = (result["per_type"][t] for t in ("Chemical", "Disease", "Gene"))
    assert (chemical["tp_pred"], chemical["n_pred"], chemical["n_gold"]) == (1, 2, 1)  # duplicate counted once
    assert scores(chemical) == pytest.approx((0.5, 1.0, 2 / 3))
    assert scores(disease) == (0.0, 0.0, 0.0) and disease["n_gold"] == 2
    assert scores(gene) == (0.0, 0.0, 0.0) and gene["n_gold"] == gene["n_pred"] == 0
    assert scores(result["micro"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_mention_scores_no_predictions_and_no_gold():
    assert scores(mention_scores([GOLD_NER], [doc()])["micro"]) == (0.0, 0.0, 0.0)
    no_gold = mention_scores([doc()], [GOLD_NER])["micro"]
    assert scores(no_gold) == (0.0, 0.0, 0.0) and no_gold["n_pred"] == 3
    with pytest.raises(ValueError, match="empty or reversed span"):
        mention_scores([doc()], [doc(mentions=[mention(5, 5, "Chemical")])])


def test_span_confusion_matrix():
    result = span_confusion([GOLD_NER], [PRED_NER], entity_types=["Chemical", "Disease"])
    assert result["labels"] == ["Chemical", "Disease", "O"]
    # rows gold, columns predicted: [0,5) C->C; [10,15) D->C; [20,25) D missed; [20,26) spurious D
    assert result["matrix"] == [[1, 0, 0], [1, 0, 1], [0, 1, 0]]


# ---------------------------------------------------------------- seqeval


def test_seqeval_strict_iob2_micro_and_per_type():
    gold = [["B-Chemical", "I-Chemical", "O", "B-Disease"], ["B-Disease", "O"]]
    pred = [["B-Chemical", "I-Chemical", "O", "I-Disease"], ["B-Disease", "O"]]  # I- without B-: no entity
    result = seqeval_scores(gold, pred, entity_types=["Chemical", "Disease", "Gene"])
    assert scores(result["per_type"]["Chemical"]) == (1.0, 1.0, 1.0)
    assert scores(result["per_type"]["Disease"]) == pytest.approx((1.0, 0.5, 2 / 3))
    assert result["per_type"]["Disease"]["support"] == 2
    assert result["per_type"]["Gene"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert scores(result["micro"]) == pytest.approx((1.0, 2 / 3, 0.8))


def test_seqeval_without_entities_or_sequences_is_zero():
    assert scores(seqeval_scores([["O", "O"]], [["O", "O"]])["micro"]) == (0.0, 0.0, 0.0)
    assert scores(seqeval_scores([], [])["micro"]) == (0.0, 0.0, 0.0)
    no_gold = seqeval_scores([["O", "O"]], [["B-Chemical", "O"]])["micro"]
    assert scores(no_gold) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="sequence 0: 2 gold tags but 1 predicted"):
        seqeval_scores([["O", "O"]], [["O"]])
