"""Tests of modeling/: config, preprocessing (windows, BIO, pairs), heads, extract, save/load, remote code.

Everything runs on a tiny randomly initialised BERT and a vocabulary written to tmp_path.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import textwrap
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertTokenizerFast

from modeling import JointNerReConfig, SciBertForJointNerRe
from modeling.outputs_joint_ner_re import InputError, margin_to_probability
from modeling.modeling_joint_ner_re import MASKED_LOGIT, map_on_cpu_threads
from modeling.postprocessing_joint_ner_re import (
    bio_transition_allowed,
    decode_bio,
    group_mentions,
    ner_tag_ids,
    viterbi_bio,
)
from modeling.preprocessing_joint_ner_re import (
    assign_tokens_to_windows,
    collate_features,
    load_tokenizer,
    prepare_features,
    window_spans,
)
from tests.fresh_process import run_without_project_code

REPO = Path(__file__).resolve().parents[1]
ENTITY_TYPES = ["Chemical", "Disease", "Gene"]
# deliberately not in sorted order: config.json sorts keys, the logit order must survive a round trip
RELATION_TYPES = {"CID": ["Chemical", "Disease"], "TREATS": ["Chemical", "Disease"], "BINDS": ["Chemical", "Gene"]}


def make_doc(pmid: str, text: str, spans, entities, relations) -> dict:
    """A document in the loaders' schema; spans are (surface, type, occurrence index)."""
    mentions = []
    for surface, entity_type, occurrence in spans:
        start = -1
        for _ in range(occurrence + 1):
            start = text.index(surface, start + 1)
        mentions.append({"start": start, "end": start + len(surface), "text": surface, "type": entity_type,
                         "ids": [], "composite_parts": []})
    return {
        "pmid": pmid,
        "text": text,
        "mentions": mentions,
        "entities": [{"id": i, "type": mentions[m[0]]["type"], "mention_indices": m} for i, m in entities],
        "relations": [{"label": label, "head": h, "tail": t} for label, h, t in relations],
    }


DOCS = [
    make_doc(
        "1",
        "Naloxone reverses clonidine induced hypotension . Naloxone also caused bradycardia in rats .",
        [("Naloxone", "Chemical", 0), ("clonidine", "Chemical", 0), ("hypotension", "Disease", 0),
         ("Naloxone", "Chemical", 1), ("bradycardia", "Disease", 0)],
        [("C1", [0, 3]), ("C2", [1]), ("D1", [2]), ("D2", [4])],
        [("CID", "C2", "D1"), ("CID", "C1", "D2")],
    ),
    make_doc(
        "2",
        "Lithium treatment led to tremor and Lithium binds GSK3 kinase in neurons .",
        [("Lithium", "Chemical", 0), ("tremor", "Disease", 0), ("Lithium", "Chemical", 1),
         ("GSK3 kinase", "Gene", 0)],
        [("C1", [0, 2]), ("D1", [1]), ("G1", [3])],
        [("CID", "C1", "D1"), ("BINDS", "C1", "G1")],
    ),
    make_doc(  # one pair with two labels (ChemDisGene-like multi-label)
        "3",
        "Aspirin treats and causes headache but not ulcer .",
        [("Aspirin", "Chemical", 0), ("headache", "Disease", 0), ("ulcer", "Disease", 0)],
        [("C1", [0]), ("D1", [1]), ("D2", [2])],
        [("CID", "C1", "D1"), ("TREATS", "C1", "D1")],
    ),
]
FILLER = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi".split()


def _write_vocab(folder: Path) -> Path:
    words = set(FILLER)
    for doc in DOCS:
        words |= set(re.findall(r"\w+|[^\w\s]", doc["text"]))
    words.discard("Naloxone")  # split into subwords on purpose: Nal ##ox ##one
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Nal", "##ox", "##one", "nal"] + sorted(words)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return folder / "vocab.txt"


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory) -> Path:
    return _write_vocab(tmp_path_factory.mktemp("vocab"))


@pytest.fixture(scope="module")
def tokenizer(vocab_file) -> BertTokenizerFast:
    # transformers 5: the vocabulary path goes in `vocab=` (a `vocab_file=` keyword is silently ignored)
    return BertTokenizerFast(vocab=str(vocab_file), do_lower_case=False)


def tiny_config(tokenizer, **overrides) -> JointNerReConfig:
    encoder = dict(model_type="bert", vocab_size=len(tokenizer.get_vocab()), hidden_size=32, num_hidden_layers=2,
                   num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                   hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    kwargs = dict(encoder_config=encoder, entity_types=ENTITY_TYPES, relation_types=RELATION_TYPES,
                  max_length=16, stride=4, re_block_size=8, classifier_dropout=0.0)
    kwargs.update(overrides)
    return JointNerReConfig(**kwargs)


def spans_of(result: dict) -> set:
    return {(m["start"], m["end"], m["type"]) for m in result["mentions"]}


def relations_by_spans(result: dict) -> set:
    """Relations with entities named by their mention spans, so gold and predicted ids compare."""
    spans = {e["id"]: frozenset((result["mentions"][i]["start"], result["mentions"][i]["end"])
                                for i in e["mention_indices"]) for e in result["entities"]}
    return {(r["label"], spans[r["head"]], spans[r["tail"]]) for r in result["relations"]}


# ---- config ------------------------------------------------------------------------------------------------


def test_config_labels_validation_and_round_trip(tokenizer, tmp_path):
    config = tiny_config(tokenizer, max_length=12)
    assert config.max_length == 12
    assert config.ner_labels == ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease", "B-Gene", "I-Gene"]
    assert config.relation_labels == ["CID", "TREATS", "BINDS"]
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "scibert_joint_ner_re" and saved["encoder_config"]["hidden_size"] == 32
    assert saved["max_length"] == 12
    loaded = JointNerReConfig.from_pretrained(tmp_path)
    assert loaded.max_length == 12 and loaded.stride == 4
    assert loaded.relation_labels == ["CID", "TREATS", "BINDS"]
    assert list(loaded.relation_types) == ["CID", "TREATS", "BINDS"]
    assert tiny_config(tokenizer, window_length=10).max_length == 10  # alias
    with pytest.raises(ValueError, match=r"unknown entity type\(s\) \['Protein'\]"):
        tiny_config(tokenizer, relation_types={"X": ["Chemical", "Protein"]})
    with pytest.raises(ValueError, match="stride"):
        tiny_config(tokenizer, max_length=8, stride=6)
    with pytest.raises(ValueError, match="re_block_size"):
        tiny_config(tokenizer, re_block_size=5)


def test_a_config_saved_with_the_removed_decoding_options_loads_and_behaves_as_today(tokenizer, tmp_path):
    """`ner_label_continuations` and `ner_propagate_mentions` were removed (measured as not helping); a
    config.json written before still loads, drops them, and labels and decodes as the current defaults do."""
    tiny_config(tokenizer).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    old = {**saved, "ner_label_continuations": False, "ner_propagate_mentions": True}
    (tmp_path / "config.json").write_text(json.dumps(old))
    for loaded in (JointNerReConfig.from_pretrained(tmp_path), JointNerReConfig.from_dict(old)):
        assert not hasattr(loaded, "ner_label_continuations") and not hasattr(loaded, "ner_propagate_mentions")
        loaded.save_pretrained(tmp_path / "again")
        assert json.loads((tmp_path / "again" / "config.json").read_text()).keys() == saved.keys()
    text = "Naloxone reverses hypotension ."
    doc = {"pmid": "old", "text": text, "mentions": [{"start": 0, "end": 8, "type": "Chemical"}]}
    features = prepare_features(doc, tokenizer, loaded)
    # Nal ##ox ##one: the continuations keep their I- labels (no -100), as with a config made today
    assert [loaded.ner_labels[t] for t in features["ner_labels"][:3]] == ["B-Chemical", "I-Chemical", "I-Chemical"]
    assert features == prepare_features(doc, tokenizer, tiny_config(tokenizer))


# ---- tokenizer casing ----------------------------------------------------------------------------------------


def test_load_tokenizer_keeps_case_for_cased_checkpoints(tmp_path):
    for name in ("toy_scivocab_cased", "toy_scivocab_uncased"):
        _write_vocab(tmp_path / name)
        (tmp_path / name / "config.json").write_text(json.dumps({"model_type": "bert"}))
    plain = AutoTokenizer.from_pretrained(str(tmp_path / "toy_scivocab_cased"))
    assert plain.tokenize("Naloxone") == ["nal", "##ox", "##one"]  # why the helper exists: BERT lowercases by default
    cased = load_tokenizer(tmp_path / "toy_scivocab_cased")
    assert cased.tokenize("Naloxone") == ["Nal", "##ox", "##one"]
    uncased = load_tokenizer(tmp_path / "toy_scivocab_uncased")
    assert uncased.tokenize("Naloxone") == ["nal", "##ox", "##one"]


# ---- windows -------------------------------------------------------------------------------------------------


def test_window_merging_on_a_three_window_document(tokenizer):
    config = tiny_config(tokenizer, max_length=8, stride=2)  # 6 content tokens, windows start every 4
    doc = {"pmid": "w", "text": " ".join(FILLER)}  # 14 tokens
    features = prepare_features(doc, tokenizer, config)
    assert features["length"] == 14
    assert window_spans(14, 6, 2) == [(0, 6), (4, 10), (8, 14)]
    assert features["window_length"] == 8
    assert len(features["input_ids"]) == 3
    token_ids = tokenizer(doc["text"], add_special_tokens=False)["input_ids"]
    for window, start in zip(features["input_ids"], [0, 4, 8]):
        assert window == [tokenizer.cls_token_id] + token_ids[start : start + 6] + [tokenizer.sep_token_id]
    # hand-computed: a token keeps the window where it is farthest from a cut (document ends are no cut)
    expected_window = [0] * 5 + [1] * 4 + [2] * 5
    expected_start = [0, 4, 8]
    assert features["token_window"] == expected_window
    assert features["token_position"] == [i - expected_start[w] + 1 for i, w in enumerate(expected_window)]
    assert sorted(i for i in range(14) for _ in [features["token_window"][i]]) == list(range(14))  # once each

    torch.manual_seed(0)
    model = SciBertForJointNerRe(config).eval()
    batch = collate_features([features], tokenizer.pad_token_id)
    with torch.no_grad():
        merged = model.encode(batch["input_ids"], batch["attention_mask"], batch["token_index"])[0]
        per_window = [model.encoder(input_ids=torch.tensor([w])).last_hidden_state[0] for w in features["input_ids"]]
    expected = torch.stack([per_window[w][i - expected_start[w] + 1] for i, w in enumerate(expected_window)])
    assert merged.shape == (14, 32)
    torch.testing.assert_close(merged, expected)
    # the overlap really differs between windows (so the selection matters)
    assert not torch.allclose(per_window[0][5 + 1], per_window[1][5 - 4 + 1])


def test_window_assignment_single_window_and_ties():
    assert window_spans(5, 6, 2) == [(0, 5)]
    assert assign_tokens_to_windows(5, [(0, 5)]) == ([0] * 5, [1, 2, 3, 4, 5])
    # 10 tokens, windows [0, 6) and [4, 10): token 4 is 1 from w0's cut, 0 from w1's -> w0; token 5 -> w1
    windows, _ = assign_tokens_to_windows(10, window_spans(10, 6, 2))
    assert windows == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    # 9 tokens, windows [0, 5), [2, 7), [4, 9): token 3 is 1 from a cut in w0 and in w1 (tie -> w0); token 4 is
    # 2 from both cuts of w1; token 5 is 1 from a cut in w1 and in w2 (tie -> w1)
    assert window_spans(9, 5, 3) == [(0, 5), (2, 7), (4, 9)]
    windows, positions = assign_tokens_to_windows(9, [(0, 5), (2, 7), (4, 9)])
    assert windows == [0, 0, 0, 0, 1, 1, 2, 2, 2]
    assert positions == [1, 2, 3, 4, 3, 4, 3, 4, 5]


@pytest.mark.parametrize("content_length, stride", [(6, 2), (5, 0), (10, 9), (510, 128)])
def test_windows_have_one_length_cover_the_document_and_overlap_by_stride(content_length, stride):
    for num_tokens in range(1, 3 * content_length):
        spans = window_spans(num_tokens, content_length, stride)
        assert spans[0][0] == 0 and spans[-1][1] == num_tokens
        assert len({end - start for start, end in spans}) == 1
        assert spans[0][1] - spans[0][0] <= content_length
        assert all(b[0] > a[0] and a[1] - b[0] >= stride for a, b in zip(spans, spans[1:]))
        # the fewest windows: one window less could not cover the document
        count = len(spans)
        assert count == 1 or (count - 1) * content_length - (count - 2) * stride < num_tokens


def test_a_document_just_over_one_window_gets_two_equal_windows():
    # 12 tokens, 10 per window, overlap 2: [0, 7) and [5, 12), not [0, 10) and [8, 12)
    assert window_spans(12, 10, 2) == [(0, 7), (5, 12)]
    assert window_spans(520, 510, 128) == [(0, 324), (196, 520)]


# ---- BIO labels, pairs -----------------------------------------------------------------------------------------


def test_bio_labels_subwords_overlaps_and_boundary_tokens(tokenizer):
    config = tiny_config(tokenizer)
    text = "Naloxone reverses clonidine induced hypotension ."
    mentions = [
        {"start": 0, "end": 8, "type": "Chemical"},  # Nal ##ox ##one
        {"start": 18, "end": 47, "type": "Disease"},  # "clonidine induced hypotension" (longest: wins)
        {"start": 18, "end": 27, "type": "Chemical"},  # nested in the Disease mention: no tags
        {"start": 3, "end": 5, "type": "Chemical"},  # inside the token "##ox": the token is the mention
    ]
    doc = {"pmid": "bio", "text": text, "mentions": mentions,
           "entities": [{"id": "a", "type": "Chemical", "mention_indices": [0]},
                        {"id": "b", "type": "Disease", "mention_indices": [1]},
                        {"id": "c", "type": "Chemical", "mention_indices": [2, 3]}],
           "relations": [{"label": "CID", "head": "c", "tail": "b"}]}
    features = prepare_features(doc, tokenizer, config)
    tags = [config.ner_labels[t] for t in features["ner_labels"]]
    # tokens: Nal ##ox ##one reverses clonidine induced hypotension .
    assert tags == ["B-Chemical", "I-Chemical", "I-Chemical", "O", "B-Disease", "I-Disease", "I-Disease", "O"]
    # the nested and the sub-token mentions still feed their entity (first token of each mention)
    assert features["entity_mentions"] == [[0], [4], [4, 1]]
    assert features["pairs"] == [[0, 1], [2, 1]]
    assert features["pair_labels"] == [[0, 0, 0], [1, 0, 0]]


def test_type_signature_filtering_of_pairs_and_logits(tokenizer):
    config = tiny_config(tokenizer)
    features = prepare_features(DOCS[1], tokenizer, config)  # entities: C1 (Chemical), D1 (Disease), G1 (Gene)
    # only Chemical->Disease and Chemical->Gene are allowed: no reversed, no Disease-Gene pairs
    assert features["pairs"] == [[0, 1], [0, 2]]
    assert features["pair_labels"] == [[1, 0, 0], [0, 0, 1]]
    torch.manual_seed(0)
    model = SciBertForJointNerRe(config).eval()
    with torch.no_grad():
        out = model(**collate_features([features], tokenizer.pad_token_id))
    logits = out.re_logits[0]
    assert logits.shape == (2, 3)
    assert (logits[0, 2] == MASKED_LOGIT) and (logits[0, :2] > MASKED_LOGIT).all()  # Chem-Dis: no BINDS
    assert (logits[1, :2] == MASKED_LOGIT).all() and (logits[1, 2] > MASKED_LOGIT)  # Chem-Gene: BINDS only
    assert out.pairs[0].tolist() == [[0, 1], [0, 2]]


# ---- decoding --------------------------------------------------------------------------------------------------


def test_entity_pooling_skips_padded_mentions_and_keeps_gradients_finite(tokenizer):
    """An entity is the log-sum-exp of its real mentions only; a padding entity (no mention) gives zeros and
    no NaN gradient."""
    model = SciBertForJointNerRe(tiny_config(tokenizer)).eval()
    torch.manual_seed(0)
    sequence = torch.randn(1, 6, 32, requires_grad=True)
    mention_index = torch.tensor([[[0, 2, 0], [4, 0, 0], [0, 0, 0]]])  # entity 2 is padding
    mention_mask = torch.tensor([[[True, True, False], [True, False, False], [False, False, False]]])
    pooled = []
    model.head_extractor.register_forward_hook(lambda module, inputs, output: pooled.append(inputs[0]))
    raw, _ = model.relation_logits(sequence, torch.ones(1, 6, dtype=torch.bool), mention_index, mention_mask,
                                   torch.tensor([[0, 1, 0]]), torch.tensor([[[0, 1], [2, 1]]]))
    raw.sum().backward()
    assert torch.isfinite(sequence.grad).all()
    hidden = model.config.build_encoder_config().hidden_size
    entities = pooled[0][:, :hidden]  # head vectors of pairs (0, 1) and (2, 1): entity 0, then the padding one
    assert torch.allclose(entities[0], torch.logsumexp(sequence[0, [0, 2]], dim=0))
    assert torch.equal(entities[1], torch.zeros(hidden))


def test_ner_loss_in_deterministic_mode_equals_the_default_one(trained):
    """Under `torch.use_deterministic_algorithms` (train.py --full-determinism) the NER loss takes the flat
    cross-entropy, which has a deterministic CUDA kernel; it is the same loss."""
    from biomed_nerre.training.determinism import full_determinism

    model, _, batch = trained
    was_training = model.training
    model.eval()
    with torch.no_grad():
        default = model(**batch)
        with full_determinism(True):
            deterministic = model(**batch)
    model.train(was_training)
    assert deterministic.ner_loss.item() == pytest.approx(default.ner_loss.item(), rel=1e-6)
    assert deterministic.loss.item() == pytest.approx(default.loss.item(), rel=1e-6)


def test_sdpa_without_cudnn_turns_cudnn_attention_off_inside_only():
    """The encoder's attention on a GPU skips cuDNN (a new execution plan per batch shape); nothing else changes."""
    from modeling.modeling_joint_ner_re import sdpa_without_cudnn

    before = (torch.backends.cuda.cudnn_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled(),
              torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.math_sdp_enabled())
    with sdpa_without_cudnn():
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.mem_efficient_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
    assert (torch.backends.cuda.cudnn_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled(),
            torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.math_sdp_enabled()) == before


def test_inference_order_sorts_by_window_length_then_document_length():
    from modeling.preprocessing_joint_ner_re import inference_order

    features = {0: {"window_length": 64, "length": 120}, 3: {"window_length": 16, "length": 10},
                5: {"window_length": 64, "length": 70}, 7: {"window_length": 16, "length": 14}}
    assert inference_order(features) == [3, 7, 5, 0]


def test_decode_bio_repairs_and_grouping():
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    text = "aa bb cc dd ee"
    offsets = [[0, 2], [3, 5], [6, 8], [9, 11], [12, 14]]
    # I- after O opens a mention; an I- of another type opens a new one
    mentions = decode_bio([2, 2, 0, 1, 4], offsets, text, labels)
    assert [(m["text"], m["type"]) for m in mentions] == [("aa bb", "Chemical"), ("dd", "Chemical"), ("ee", "Disease")]
    grouped = group_mentions([{"text": "Lithium", "type": "Chemical"}, {"text": "tremor", "type": "Disease"},
                              {"text": "LITHIUM", "type": "Chemical"}, {"text": "lithium", "type": "Disease"},
                              {"text": "GSK3  kinase", "type": "Gene"}, {"text": "gsk3 kinase", "type": "Gene"}])
    assert grouped == [{"id": "NIL:Chemical:lithium", "type": "Chemical", "mention_indices": [0, 2]},
                       {"id": "NIL:Disease:tremor", "type": "Disease", "mention_indices": [1]},
                       {"id": "NIL:Disease:lithium", "type": "Disease", "mention_indices": [3]},
                       {"id": "NIL:Gene:gsk3 kinase", "type": "Gene", "mention_indices": [4, 5]}]


def _log_probs(rows):
    return torch.log(torch.tensor(rows, dtype=torch.float))


def test_viterbi_bio_finds_the_best_valid_sequence():
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    # argmax would be I-Chemical I-Chemical (invalid start); the best valid path opens with B-Chemical
    rows = [[0.1, 0.3, 0.4, 0.1, 0.1], [0.1, 0.1, 0.6, 0.1, 0.1]]
    assert viterbi_bio(_log_probs(rows).tolist(), labels) == [1, 2]
    # B-Chemical then I-Disease (argmax) is invalid: 0.5*0.35 for B-Chem I-Chem beats 0.5*0.2 for O/B-Dis paths
    rows = [[0.1, 0.5, 0.1, 0.2, 0.1], [0.05, 0.05, 0.35, 0.15, 0.4]]
    assert viterbi_bio(_log_probs(rows).tolist(), labels) == [1, 2]
    assert viterbi_bio([], labels) == []
    # brute force over every valid sequence of a random 4-position problem
    torch.manual_seed(0)
    scores = torch.log_softmax(torch.randn(4, 5), dim=-1).tolist()
    allowed = bio_transition_allowed(labels)
    valid = [seq for seq in itertools.product(range(5), repeat=4)
             if not labels[seq[0]].startswith("I-") and all(allowed[a][b] for a, b in zip(seq, seq[1:]))]
    best = max(valid, key=lambda seq: sum(scores[i][t] for i, t in enumerate(seq)))
    assert viterbi_bio(scores, labels) == list(best)
    # and with three types (ChemDisGene's), on random problems: predecessors are searched per group of labels
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease", "B-Gene", "I-Gene"]
    allowed = bio_transition_allowed(labels)
    valid = [seq for seq in itertools.product(range(7), repeat=5)
             if not labels[seq[0]].startswith("I-") and all(allowed[a][b] for a, b in zip(seq, seq[1:]))]
    for _ in range(10):
        scores = torch.log_softmax(torch.randn(5, 7), dim=-1).tolist()
        best = max(valid, key=lambda seq: sum(scores[i][t] for i, t in enumerate(seq)))
        assert viterbi_bio(scores, labels) == list(best)


def test_constrained_tags_run_on_word_initial_tokens_only():
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    text = "naloxone xx"  # nal ##ox ##one xx
    offsets = [[0, 3], [3, 5], [5, 8], [9, 11]]
    # valid at word level (continuations are not read): the argmax is kept as it is
    logits = _log_probs([[0.1, 0.6, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1, 0.6], [0.6, 0.1, 0.1, 0.1, 0.1],
                         [0.6, 0.1, 0.1, 0.1, 0.1]])
    assert ner_tag_ids(logits, offsets, text, labels, constrained=True) == [1, 4, 0, 0]
    # an I-Disease word after a Chemical word: argmax keeps it (decoding then opens a new mention), the
    # constrained search picks the best valid alternative for the word
    logits = _log_probs([[0.1, 0.6, 0.1, 0.1, 0.1], [0.2] * 5, [0.2] * 5, [0.1, 0.1, 0.3, 0.1, 0.4]])
    assert ner_tag_ids(logits, offsets, text, labels, constrained=False) == [1, 0, 0, 4]
    assert ner_tag_ids(logits, offsets, text, labels, constrained=True) == [1, 0, 0, 2]
    mentions = decode_bio(ner_tag_ids(logits, offsets, text, labels, constrained=True), offsets, text, labels)
    assert [(m["text"], m["type"]) for m in mentions] == [("naloxone xx", "Chemical")]


# ---- bad input -------------------------------------------------------------------------------------------------


def test_bad_documents_raise_clear_errors(tokenizer):
    config = tiny_config(tokenizer)
    doc = DOCS[0]

    def variant(**changes):
        return {**doc, **changes}

    with pytest.raises(ValueError, match="'e1': text is empty"):
        prepare_features({"pmid": "e1", "text": "  "}, tokenizer, config)
    bad_offsets = [dict(m) for m in doc["mentions"]]
    bad_offsets[2] = {**bad_offsets[2], "end": 500}
    with pytest.raises(ValueError, match=r"'1': mention 2 offsets \[36, 500\) are outside the text"):
        prepare_features(variant(mentions=bad_offsets), tokenizer, config)
    unknown = [dict(m) for m in doc["mentions"]]
    unknown[1] = {**unknown[1], "type": "Species"}
    with pytest.raises(ValueError, match="'1': mention 1 has unknown entity type 'Species'"):
        prepare_features(variant(mentions=unknown), tokenizer, config)
    entities = [dict(e) for e in doc["entities"]]
    entities[0] = {**entities[0], "type": "Species"}
    with pytest.raises(ValueError, match="entity 0 \\('C1'\\) has unknown type 'Species'"):
        prepare_features(variant(entities=entities), tokenizer, config)
    with pytest.raises(ValueError, match="relation 0 tail 'D9' is absent from entities"):
        prepare_features(variant(relations=[{"label": "CID", "head": "C1", "tail": "D9"}]), tokenizer, config)
    with pytest.raises(ValueError, match="unknown label 'XYZ'"):
        prepare_features(variant(relations=[{"label": "XYZ", "head": "C1", "tail": "D1"}]), tokenizer, config)
    wrong_way = r"CID needs a Chemical head but 'D1' is Disease; the label links \('Chemical', 'Disease'\)"
    with pytest.raises(ValueError, match=wrong_way):
        prepare_features(variant(relations=[{"label": "CID", "head": "D1", "tail": "C1"}]), tokenizer, config)
    # an id may name entities of two types (the loaders key entities by (id, type)): the label's signature picks
    shared = variant(entities=[*doc["entities"], {"id": "C2", "type": "Disease", "mention_indices": [4]}],
                     relations=[{"label": "CID", "head": "C2", "tail": "C2"}])
    features = prepare_features(shared, tokenizer, config)
    assert features["pair_labels"][features["pairs"].index([1, 4])] == [1, 0, 0]


def test_documents_without_entities_or_pairs_and_empty_extract(tokenizer):
    config = tiny_config(tokenizer)
    torch.manual_seed(0)
    model = SciBertForJointNerRe(config)
    no_entities = {"pmid": "n", "text": "alpha beta gamma", "mentions": [], "entities": [], "relations": []}
    only_diseases = make_doc("d", "tremor and headache .", [("tremor", "Disease", 0), ("headache", "Disease", 0)],
                             [("D1", [0]), ("D2", [1])], [])
    features = [prepare_features(d, tokenizer, config) for d in (no_entities, only_diseases)]
    assert features[0]["pairs"] == [] and features[1]["pairs"] == []
    out = model(**collate_features(features, tokenizer.pad_token_id, len(config.relation_labels)))
    assert out.re_loss.item() == 0.0 and torch.isfinite(out.loss)
    out.loss.backward()  # the RE head stays in the graph (masked), as DDP needs
    assert model.bilinear.weight.grad is not None
    assert (out.pairs == -1).all()
    results = model.extract(["", "alpha beta"], tokenizer)
    assert results[0] == {"pmid": "input-0", "mentions": [], "entities": [], "relations": []}
    assert results[1]["relations"] == []  # no candidate pairs in an untrained model's output is fine either way
    with pytest.raises(ValueError, match="plain string; mode='gold'"):
        model.extract("alpha beta", tokenizer, mode="gold")
    with pytest.raises(ValueError, match="mode must be"):
        model.extract("alpha beta", tokenizer, mode="fast")


# ---- learning, save/load, remote code -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A tiny model overfitted on DOCS (module-scoped: the train/save tests share it)."""
    config = tiny_config(tokenizer)
    torch.manual_seed(0)
    model = SciBertForJointNerRe(config)
    features = [prepare_features(d, tokenizer, config) for d in DOCS]
    assert len(features[0]["input_ids"]) == 2  # the first document spans two windows
    batch = collate_features(features, tokenizer.pad_token_id, len(config.relation_labels))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(80):
        out = model(**batch)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    return model, losses, batch


def test_overfit_recovers_gold_mentions_and_relations(trained, tokenizer):
    model, losses, _ = trained
    # ATLOP's loss has a floor of 2 log 2 on a pair with two gold labels, hence not ~0
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    end2end = model.extract(DOCS, tokenizer, mode="end2end", batch_size=2)
    gold = model.extract(DOCS, tokenizer, mode="gold")
    for doc, pred, pred_gold in zip(DOCS, end2end, gold):
        assert spans_of(pred) == spans_of(doc), doc["pmid"]
        assert relations_by_spans(pred) == relations_by_spans(doc), doc["pmid"]
        assert {(r["label"], r["head"], r["tail"]) for r in pred_gold["relations"]} == {
            (r["label"], r["head"], r["tail"]) for r in doc["relations"]}
        assert all(0.5 < r["score"] <= 1.0 for r in pred["relations"])
    assert end2end[0]["mentions"][0] == {"start": 0, "end": 8, "text": "Naloxone", "type": "Chemical", "ids": [],
                                         "link_score": None}


def _without_scores(results: list[dict]) -> list[dict]:
    return [{**r, "relations": [{k: v for k, v in rel.items() if k != "score"} for rel in r["relations"]]}
            for r in results]


@pytest.mark.parametrize("mode", ["end2end", "gold"])
def test_parallel_batches_predict_what_one_batch_at_a_time_does(trained, tokenizer, mode):
    """Batches on two threads give the same mentions, entities and relations, in input order; scores agree to
    float rounding (the workers run on fewer intra-op threads)."""
    model, _, _ = trained
    documents = [dict(d, pmid=f"{d['pmid']}-{k}") for k in range(3) for d in DOCS]
    threads = torch.get_num_threads()
    one_at_a_time = model.extract(documents, tokenizer, mode=mode, batch_size=1)
    parallel = model.extract(documents, tokenizer, mode=mode, batch_size=1, parallel_batches=2)
    assert torch.get_num_threads() == threads
    assert [r["pmid"] for r in parallel] == [d["pmid"] for d in documents]
    assert _without_scores(parallel) == _without_scores(one_at_a_time)
    assert sum(len(r["relations"]) for r in parallel) > 0
    for fast, slow in zip(parallel, one_at_a_time):
        for a, b in zip(fast["relations"], slow["relations"]):
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    # more threads than batches, and a single batch, take the same results too
    assert _without_scores(model.extract(documents[:2], tokenizer, mode=mode, parallel_batches=4)) == \
        _without_scores(one_at_a_time[:2])


def test_extract_modes_gives_each_modes_extract_from_one_pass(trained, tokenizer):
    """Both modes from one encoder pass are exactly what `extract` gives for each mode by itself."""
    from biomed_nerre.training.calibration import SCORE_FLOOR

    model, _, _ = trained
    documents = [*DOCS, {**DOCS[0], "pmid": "blank", "text": "  ", "mentions": [], "entities": [], "relations": []}]
    both = model.extract_modes(documents, tokenizer, {"gold": SCORE_FLOOR, "end2end": None}, batch_size=2)
    assert both == {"gold": model.extract(documents, tokenizer, mode="gold", batch_size=2, threshold=SCORE_FLOOR),
                    "end2end": model.extract(documents, tokenizer, mode="end2end", batch_size=2)}
    assert both["end2end"][-1] == {"pmid": "blank", "mentions": [], "entities": [], "relations": []}
    assert both["gold"][-1] == {"pmid": "blank", "mentions": [], "entities": [], "relations": []}
    with pytest.raises(ValueError, match="non-empty subset"):
        model.extract_modes(DOCS, tokenizer, {})
    with pytest.raises(ValueError, match="non-empty subset"):
        model.extract_modes(DOCS, tokenizer, {"fast": None})
    with pytest.raises(ValueError, match="plain string; mode='gold'"):
        model.extract_modes(["alpha beta"], tokenizer, {"gold": None, "end2end": None})


def test_parallel_batches_are_checked(trained, tokenizer):
    model, _, _ = trained
    with pytest.raises(InputError, match="parallel_batches must be ints >= 1"):
        model.extract(DOCS, tokenizer, parallel_batches=0)
    with pytest.raises(InputError, match="batch_size and parallel_batches must be ints >= 1"):
        model.extract(DOCS, tokenizer, batch_size=0)
    with torch.device("meta"):
        on_meta = SciBertForJointNerRe(model.config)
    with pytest.raises(ValueError, match="for CPU inference; the model is on meta"):
        on_meta.extract(DOCS, tokenizer, parallel_batches=2)


def test_map_on_cpu_threads_keeps_order_modes_and_errors():
    import threading

    threads = torch.get_num_threads()
    seen: dict[int, tuple] = {}

    def probe(i: int) -> int:
        seen[i] = (threading.get_ident(), torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu"),
                   torch.get_num_threads(), torch.is_grad_enabled())
        return i * i

    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert map_on_cpu_threads(probe, list(range(6)), 2) == [i * i for i in range(6)]
    assert {s[1:] for s in seen.values()} == {(True, True, max(1, threads // 2), False)}
    assert threading.get_ident() not in {s[0] for s in seen.values()}
    assert torch.get_num_threads() == threads

    with torch.no_grad():
        map_on_cpu_threads(probe, [0], 2)
    assert (seen[0][1], seen[0][2], seen[0][4]) == (False, False, False)
    map_on_cpu_threads(probe, [0], 2)
    assert (seen[0][1], seen[0][2], seen[0][4]) == (False, False, True)

    def fail(i: int) -> int:
        if i == 3:
            raise KeyError("document 3")
        return i

    with pytest.raises(KeyError, match="document 3"):
        map_on_cpu_threads(fail, list(range(5)), 2)
    assert torch.get_num_threads() == threads


def test_one_low_threshold_pass_filtered_equals_extracting_at_each_threshold(trained, tokenizer):
    """Validation and calibration score many margins from one pass at the floor; filtering it must give what
    `extract` gives at that margin's probability."""
    from biomed_nerre.training.calibration import SCORE_FLOOR, keep_relations_above

    model, _, _ = trained
    scored = model.extract(DOCS, tokenizer, mode="gold", threshold=SCORE_FLOOR)
    assert sum(len(p["relations"]) for p in scored) > sum(len(d["relations"]) for d in DOCS)  # the floor keeps more
    for threshold in (-2.0, 0.0, 1.5):
        direct = model.extract(DOCS, tokenizer, mode="gold", threshold=margin_to_probability(threshold))
        filtered = [keep_relations_above(p, threshold) for p in scored]
        assert [p["relations"] for p in filtered] == [p["relations"] for p in direct], threshold


def test_save_load_round_trip_gives_identical_outputs(trained, tokenizer, tmp_path):
    model, _, batch = trained
    model.eval()
    model.save_pretrained(tmp_path)
    files = sorted(os.listdir(tmp_path))
    assert files == ["backbones_joint_ner_re.py", "config.json", "configuration_joint_ner_re.py", "dense_linking_joint_ner_re.py", "files_joint_ner_re.py", "gazetteer_joint_ner_re.py",
                     "linking_joint_ner_re.py", "model.safetensors", "modeling_joint_ner_re.py", "name_table_joint_ner_re.py",
                     "onnx_joint_ner_re.py", "outputs_joint_ner_re.py", "pipeline_joint_ner_re.py", "postprocessing_joint_ner_re.py", "preprocessing_joint_ner_re.py",
                     "relation_blocks_joint_ner_re.py"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration_joint_ner_re.JointNerReConfig",
                                  "AutoModel": "modeling_joint_ner_re.SciBertForJointNerRe"}
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is SciBertForJointNerRe
    with torch.no_grad():
        a, b = model(**batch), loaded(**batch)
    for key in ("loss", "ner_logits", "re_logits", "pairs"):
        assert torch.equal(a[key], b[key]), key
    assert loaded.extract(DOCS, tokenizer) == model.extract(DOCS, tokenizer)
    with pytest.raises(ValueError, match="relation_types .* do not match the checkpoint"):
        AutoModel.from_pretrained(tmp_path, relation_types={"CID": ["Chemical", "Disease"]})
    with pytest.raises(ValueError, match="entity_types .* do not match the checkpoint"):
        SciBertForJointNerRe.from_pretrained(tmp_path, entity_types=["Chemical", "Disease"])
    with pytest.raises(ValueError, match="relation types .* do not match"):
        loaded.check_label_sets(relation_types={"CID": ["Chemical", "Disease"]})


def test_int8_copy_for_cpu_quantizes_the_encoder_only_and_keeps_predictions(trained, tokenizer, tmp_path):
    model, _, batch = trained
    model.eval()
    quantized = model.quantize_for_cpu()
    dynamic = torch.ao.nn.quantized.dynamic.Linear
    encoder_linears = [m for m in quantized.encoder.modules() if isinstance(m, (torch.nn.Linear, dynamic))]
    assert encoder_linears and all(isinstance(m, dynamic) for m in encoder_linears)
    assert type(quantized.ner_classifier) is torch.nn.Linear and type(quantized.bilinear) is torch.nn.Linear
    assert not any(isinstance(m, dynamic) for m in model.modules()), "the float model was changed"
    with torch.no_grad():
        exact, approx = model(**batch), quantized(**batch)
    assert not torch.equal(exact.ner_logits, approx.ner_logits)  # it really runs a different (int8) encoder
    # the overfitted model's decisions survive int8 rounding
    assert torch.equal(exact.ner_logits.argmax(-1)[batch["token_mask"]], approx.ner_logits.argmax(-1)[batch["token_mask"]])
    for fast, slow in zip(quantized.extract(DOCS, tokenizer), model.extract(DOCS, tokenizer)):
        assert (fast["mentions"], fast["entities"]) == (slow["mentions"], slow["entities"])
        key = lambda r: (r["label"], r["head"], r["tail"])  # noqa: E731
        assert [key(r) for r in fast["relations"]] == [key(r) for r in slow["relations"]]
        assert [r["score"] for r in fast["relations"]] == pytest.approx([r["score"] for r in slow["relations"]], abs=0.05)
    documents = DOCS * 2  # the int8 kernels run on two threads at once as well
    assert _without_scores(quantized.extract(documents, tokenizer, batch_size=1, parallel_batches=2)) == \
        _without_scores(quantized.extract(documents, tokenizer, batch_size=1))
    with pytest.raises(ValueError, match="int8 copy"):
        quantized.save_pretrained(tmp_path)


@pytest.mark.slow
def test_trust_remote_code_load_in_a_fresh_process(trained, tokenizer, tmp_path):
    model, _, _ = trained
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (tmp_path / "docs.json").write_text(json.dumps(DOCS))
    script = textwrap.dedent(
        f"""
        import json, sys
        from transformers import AutoModel, AutoTokenizer
        model = AutoModel.from_pretrained({str(model_dir)!r}, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        tokenizer = AutoTokenizer.from_pretrained({str(model_dir)!r}, trust_remote_code=True)
        docs = json.load(open("docs.json"))
        try:
            import modeling
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("the repository's modeling package is importable")
        print(json.dumps(model.extract(docs, tokenizer, mode="end2end")))
        """
    )
    remote = run_without_project_code(script, cwd=tmp_path)
    local = model.eval().extract(DOCS, tokenizer, mode="end2end")
    assert [spans_of(r) for r in remote] == [spans_of(r) for r in local]
    assert [relations_by_spans(r) for r in remote] == [relations_by_spans(r) for r in local]
    for r_remote, r_local in zip(remote, local):
        for x, y in zip(r_remote["relations"], r_local["relations"]):
            assert x["score"] == pytest.approx(y["score"], abs=1e-5)


def test_mentions_are_decoded_at_word_level():
    """A word takes its first subword's tag: no mention ends inside "IDM" or starts inside "xIDM"."""
    from modeling.postprocessing_joint_ner_re import decode_bio

    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    text = "IDM (x-ray) hypotension"
    # tokens: "id" "##m" "(" "x" "-" "ray" ")" "hypo" "##tension"
    offsets = [[0, 2], [2, 3], [4, 5], [5, 6], [6, 7], [7, 10], [10, 11], [12, 16], [16, 23]]
    tags = [1, 0, 0, 0, 0, 3, 0, 3, 1]
    mentions = decode_bio(tags, offsets, text, labels)
    assert [(m["text"], m["type"]) for m in mentions] == [("IDM", "Chemical"), ("ray", "Disease"), ("hypotension", "Disease")]


def test_extract_takes_title_and_abstract_like_the_corpora(trained, tokenizer):
    """A document given as title + abstract (no `text`) is read as title + " " + abstract, the text the corpora's
    offsets index: the same mentions, entities and relations as that text."""
    model, _, _ = trained
    model.eval()
    title, abstract = "Naloxone reverses the antihypertensive effect of clonidine.", "In rats, clonidine lowered blood pressure."
    [from_parts] = model.extract([{"pmid": "1", "title": title, "abstract": abstract}], tokenizer)
    [from_text] = model.extract([{"pmid": "1", "text": title + " " + abstract}], tokenizer)
    assert from_parts == from_text
    [title_only] = model.extract([{"pmid": "2", "title": title}], tokenizer)
    assert title_only["mentions"] == model.extract(title, tokenizer)[0]["mentions"]


# ---- token shape features ------------------------------------------------------------------------------------


def test_token_shape_classes():
    from modeling.preprocessing_joint_ner_re import TOKEN_SHAPES, token_shape

    shapes = {piece: TOKEN_SHAPES[token_shape(piece)] for piece in
              ["acid", "Naloxone", "A", "HIV", "mRNA", "NaCl", "5", "H2O", "5FU", "-", "(+)", "", "α"]}
    assert shapes == {"acid": "lower", "Naloxone": "Capitalised", "A": "single UPPER", "HIV": "UPPER",
                      "mRNA": "mIxed", "NaCl": "mIxed", "5": "digits", "H2O": "alnum", "5FU": "alnum", "-": "punct",
                      "(+)": "punct", "": "special", "α": "lower"}


def test_shape_ids_follow_the_windows_and_the_original_case(tokenizer):
    config = tiny_config(tokenizer, token_shape_features=True)
    doc = DOCS[0]
    features = prepare_features(doc, tokenizer, config)
    assert [len(w) for w in features["feature_ids"]] == [len(w) for w in features["input_ids"]]
    assert all(w[0] == [0] and w[-1] == [0] for w in features["feature_ids"])  # CLS and SEP
    window, position = features["token_window"][0], features["token_position"][0]
    assert features["offsets"][0] == [0, 3] and features["feature_ids"][window][position] == [2]  # "Nal": Capitalised
    plain = prepare_features(doc, tokenizer, tiny_config(tokenizer))
    assert "feature_ids" not in plain and plain["input_ids"] == features["input_ids"]
    batch = collate_features([features, prepare_features(DOCS[2], tokenizer, config)], tokenizer.pad_token_id)
    assert batch["feature_ids"].shape == (*batch["input_ids"].shape, 1)
    assert (batch["feature_ids"][batch["attention_mask"] == 0] == 0).all()
    with pytest.raises(ValueError, match="feature_ids"):
        collate_features([features, plain], tokenizer.pad_token_id)


def test_shape_embeddings_start_at_zero_and_then_tell_case_apart(tokenizer, vocab_file, tmp_path):
    torch.manual_seed(0)
    plain = SciBertForJointNerRe(tiny_config(tokenizer)).eval()
    shaped = SciBertForJointNerRe(tiny_config(tokenizer, token_shape_features=True)).eval()
    assert shaped.token_feature_embeddings.weight.abs().sum().item() == 0  # transformers' init leaves it at zero
    shaped.encoder.load_state_dict(plain.encoder.state_dict())

    def states(model, text, tok=tokenizer):
        features = prepare_features({"pmid": "x", "text": text}, tok, model.config, with_labels=False)
        batch = collate_features([features], tok.pad_token_id)
        with torch.no_grad():
            return model.encode(batch["input_ids"], batch["attention_mask"], batch["token_index"], batch.get("feature_ids"))

    text = "Lithium binds GSK3 kinase in neurons ."
    assert torch.equal(states(plain, text), states(shaped, text))  # untrained: the pretrained encoder exactly
    unshaped = collate_features([prepare_features({"pmid": "x", "text": text}, tokenizer, plain.config,
                                                  with_labels=False)], tokenizer.pad_token_id)
    with pytest.raises(ValueError, match="feature_ids"):
        shaped.encode(unshaped["input_ids"], unshaped["attention_mask"], unshaped["token_index"])
    with torch.no_grad():
        shaped.token_feature_embeddings.weight.normal_()
    # an uncased tokenizer gives "Lithium" and "LITHIUM" the same ids; their shapes tell them apart
    uncased = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    capitalised, upper = "Lithium binds GSK3 kinase .", "LITHIUM binds GSK3 kinase ."
    assert uncased(capitalised)["input_ids"] == uncased(upper)["input_ids"]
    assert torch.equal(states(plain, capitalised, uncased), states(plain, upper, uncased))
    assert not torch.equal(states(shaped, capitalised, uncased), states(shaped, upper, uncased))
    # trained weights survive save / load, and extract runs with them
    shaped.save_pretrained(tmp_path / "m")
    loaded = SciBertForJointNerRe.from_pretrained(tmp_path / "m").eval()
    assert loaded.config.token_shape_features
    assert torch.equal(loaded.token_feature_embeddings.weight, shaped.token_feature_embeddings.weight)
    assert torch.equal(states(loaded, upper), states(shaped, upper))
    assert loaded.extract(text, tokenizer)[0]["pmid"] == "input-0"
