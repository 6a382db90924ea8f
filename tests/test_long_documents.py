"""Long documents: the relation head scored in blocks equals the whole-document formula (values and gradients),
windows encoded a few at a time equal one pass, old configs load, and a long document goes through `extract`,
the pipeline and `predict.py` alike."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modeling import JointNerReConfig, SciBertForJointNerRe, load_tokenizer
from modeling.modeling_joint_ner_re import MASKED_LOGIT
from modeling.preprocessing_joint_ner_re import collate_features, prepare_features
from tests.predict_model import write_tiny_model

ROOT = Path(__file__).resolve().parents[1]
BC5CDR = ROOT.parent / "shared" / "data" / "bc5cdr" / "CDR_TrainingSet.PubTator.txt"


def whole_document_logits(model, sequence, token_mask, mention_index, mention_mask, pairs) -> torch.Tensor:
    """The relation head as it was before blocks: every pair's attention over all tokens in one
    `[batch, pairs, tokens]` tensor. The reference the blocked head must reproduce."""
    batch, num_tokens, hidden = sequence.shape
    num_entities, num_mentions = mention_index.shape[1:]
    gathered = torch.gather(sequence, 1, mention_index.reshape(batch, -1, 1).expand(-1, -1, hidden)).view(
        batch, num_entities, num_mentions, hidden)
    entity_mask = mention_mask.any(-1)
    pad_value = torch.zeros_like(entity_mask, dtype=gathered.dtype).masked_fill(entity_mask, float("-inf"))
    gathered = torch.where(mention_mask.unsqueeze(-1), gathered, pad_value[..., None, None])
    entities = torch.logsumexp(gathered, dim=2).masked_fill(~entity_mask.unsqueeze(-1), 0.0)
    index = pairs.unsqueeze(-1).expand(-1, -1, -1, hidden)
    head = torch.gather(entities, 1, index[:, :, 0])
    tail = torch.gather(entities, 1, index[:, :, 1])
    scores = torch.einsum("beh,bth->bet", model.context_query(entities), sequence) / math.sqrt(hidden)
    scores = scores.masked_fill(~token_mask.unsqueeze(1), MASKED_LOGIT)
    attention = torch.softmax(scores.float(), dim=-1)
    att_index = pairs.unsqueeze(-1).expand(-1, -1, -1, num_tokens)
    pair_attention = torch.gather(attention, 1, att_index[:, :, 0]) * torch.gather(attention, 1, att_index[:, :, 1])
    pair_attention = pair_attention / (pair_attention.sum(-1, keepdim=True) + 1e-5)
    context = torch.bmm(pair_attention.to(sequence.dtype), sequence)
    head = torch.tanh(model.head_extractor(torch.cat([head, context], dim=-1)))
    tail = torch.tanh(model.tail_extractor(torch.cat([tail, context], dim=-1)))
    block = model.config.re_block_size
    groups = head.size(-1) // block
    weight = model.bilinear.weight.view(-1, groups, block, block)
    head, tail = head.view(batch, -1, groups, block), tail.view(batch, -1, groups, block)
    projected = torch.einsum("bpki,rkij->bprkj", head, weight)
    return torch.einsum("bprkj,bpkj->bpr", projected, tail) + model.bilinear.bias


def relation_inputs(hidden: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Two documents (40 and 25 tokens; 9 and 4 entities with 1 to 5 mentions each, one padding entity in the
    second), every ordered pair of distinct entities, padded like `collate_entities` pads them."""
    generator = torch.Generator().manual_seed(seed)
    lengths, entity_counts = (40, 25), (9, 4)
    token_mask = torch.zeros(2, 40, dtype=torch.bool)
    mention_index = torch.zeros(2, 9, 5, dtype=torch.long)
    mention_mask = torch.zeros(2, 9, 5, dtype=torch.bool)
    pairs = torch.zeros(2, 72, 2, dtype=torch.long)
    pair_mask = torch.zeros(2, 72, dtype=torch.bool)
    for b, (length, count) in enumerate(zip(lengths, entity_counts)):
        token_mask[b, :length] = True
        for e in range(count):
            mentions = int(torch.randint(1, 6, (1,), generator=generator))
            mention_index[b, e, :mentions] = torch.randint(0, length, (mentions,), generator=generator)
            mention_mask[b, e, :mentions] = True
        doc_pairs = [(h, t) for h in range(count) for t in range(count) if h != t]
        pairs[b, : len(doc_pairs)] = torch.tensor(doc_pairs)
        pair_mask[b, : len(doc_pairs)] = True
    return {"sequence": torch.randn(2, 40, hidden, generator=generator), "token_mask": token_mask,
            "mention_index": mention_index, "mention_mask": mention_mask,
            "entity_types": torch.zeros(2, 9, dtype=torch.long), "pairs": pairs, "pair_mask": pair_mask}


@pytest.fixture(scope="module")
def relation_model(encoder) -> SciBertForJointNerRe:
    """A relation head whose logits are of order 10 and depend on the context vectors as much as on the entities
    (freshly initialised weights give logits of 0.01, where a 1e-5 tolerance would hide a wrong context)."""
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(
        str(encoder), entity_types=["Chemical"], relation_types={"SELF": ["Chemical", "Chemical"]},
        re_block_size=8, classifier_dropout=0.0,
    )
    with torch.no_grad():
        model.context_query.weight.mul_(30)  # peaked attention: pairs whose entities attend apart get small sums
        for layer in (model.head_extractor, model.tail_extractor):
            layer.weight.mul_(8)
        model.bilinear.weight.mul_(40)
    return model


def test_pair_context_equals_the_whole_document_formula(relation_model):
    """The context vectors themselves (order 1, unlike the logits they feed), over blocks of 7 tokens and in one
    block, against the `[pairs, tokens]` formula."""
    from modeling.relation_blocks_joint_ner_re import pair_context

    model = relation_model
    inputs = relation_inputs(model.config.build_encoder_config().hidden_size)
    sequence, token_mask = inputs["sequence"][:1], inputs["token_mask"][:1]
    entities = model.entity_states(sequence, inputs["mention_index"][:1], inputs["mention_mask"][:1])
    query = model.context_query(entities) / math.sqrt(sequence.size(-1))
    pairs = inputs["pairs"][0][inputs["pair_mask"][0]]
    attention = torch.softmax((query[0] @ sequence[0].T).masked_fill(~token_mask[0], -1e4), dim=-1)
    weights = attention[pairs[:, 0]] * attention[pairs[:, 1]]
    expected = (weights / (weights.sum(-1, keepdim=True) + 1e-5)) @ sequence[0]
    assert expected.abs().max() > 0.5 and weights.sum(-1).min() < 1e-4  # both regimes of the 1e-5 guard
    for tokens_per_block in (7, 4096):
        with torch.no_grad():
            context = pair_context(query, sequence, token_mask, torch.zeros_like(pairs[:, 0]), pairs[:, 0], pairs[:, 1],
                                   tokens_per_block)
        torch.testing.assert_close(context, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pairs_per_block, tokens_per_block", [(1024, 4096), (5, 7), (1, 1), (16, 40)])
def test_blocked_pair_scoring_equals_whole_document_scoring(relation_model, pairs_per_block, tokens_per_block):
    """Logits of real pairs and the gradients of the encoder states and of the head's weights are those of the
    whole-document formula, whatever the block sizes; padded rows are not scored."""
    model = relation_model.train()  # training: the blocks run under activation checkpointing
    model.config.re_pairs_per_block, model.config.re_tokens_per_block = pairs_per_block, tokens_per_block
    hidden = model.config.build_encoder_config().hidden_size
    inputs = relation_inputs(hidden)
    mask = inputs["pair_mask"]
    results = []
    for blocked in (True, False):
        model.zero_grad()
        sequence = inputs["sequence"].clone().requires_grad_(True)
        if blocked:
            logits, _ = model.relation_logits(sequence, inputs["token_mask"], inputs["mention_index"],
                                              inputs["mention_mask"], inputs["entity_types"], inputs["pairs"], mask)
            assert (logits[~mask] == 0).all()
        else:
            logits = whole_document_logits(model, sequence, inputs["token_mask"], inputs["mention_index"],
                                           inputs["mention_mask"], inputs["pairs"])
        (logits[mask] * torch.linspace(-1, 1, logits[mask].numel()).view_as(logits[mask])).sum().backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        results.append((logits[mask].detach(), sequence.grad.clone(), grads))
    (blocked_logits, blocked_grad, blocked_params), (logits, grad, params) = results
    assert logits.abs().max() > 5  # logits that move with the context (see `relation_model`)
    torch.testing.assert_close(blocked_logits, logits, rtol=1e-5, atol=1e-5)
    # gradients to float rounding: 1e-5 of each tensor's largest entry
    torch.testing.assert_close(blocked_grad, grad, rtol=1e-4, atol=1e-5 * float(grad.abs().max()))
    assert set(blocked_params) == set(params) and "context_query.weight" in params
    for name in params:
        torch.testing.assert_close(blocked_params[name], params[name], rtol=1e-4,
                                   atol=1e-5 * float(params[name].abs().max()), msg=name)
    model.config.re_pairs_per_block, model.config.re_tokens_per_block = 1024, 4096


def test_a_batch_without_pairs_still_uses_every_head_parameter(relation_model):
    """DDP needs every parameter in the graph: with no real pair in the batch, one padding row is scored."""
    model = relation_model.train()
    hidden = model.config.build_encoder_config().hidden_size
    inputs = relation_inputs(hidden)
    model.zero_grad()
    logits, _ = model.relation_logits(inputs["sequence"].requires_grad_(True), inputs["token_mask"],
                                      inputs["mention_index"], inputs["mention_mask"], inputs["entity_types"],
                                      inputs["pairs"], torch.zeros_like(inputs["pair_mask"]))
    logits.sum().backward()
    for name in ("context_query.weight", "head_extractor.weight", "tail_extractor.weight", "bilinear.weight"):
        assert dict(model.named_parameters())[name].grad is not None, name


def test_windows_encoded_a_few_at_a_time_equal_one_pass(encoder):
    tokenizer = load_tokenizer(encoder)
    model = SciBertForJointNerRe.from_encoder(str(encoder), max_length=24, stride=4, re_block_size=8).eval()
    document = {"pmid": "1", "text": " ".join(["naloxone reverses the effect of clonidine in rats ."] * 12)}
    short = {"pmid": "2", "text": "lithium and tremor ."}
    features = [prepare_features(d, tokenizer, model.config, with_labels=False) for d in (document, short)]
    batch = collate_features(features, tokenizer.pad_token_id)
    assert batch["input_ids"].size(0) > 20
    states = []
    for per_pass in (1000, 1, 3):
        model.config.windows_per_pass = per_pass
        with torch.no_grad():
            states.append(model.encode(batch["input_ids"], batch["attention_mask"], batch["token_index"]))
    model.config.windows_per_pass = 32
    for other in states[1:]:
        torch.testing.assert_close(other, states[0], rtol=1e-5, atol=1e-5)


def test_configs_saved_before_the_block_sizes_load_with_the_defaults(tmp_path):
    config = JointNerReConfig()
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    for key in ("windows_per_pass", "re_pairs_per_block", "re_tokens_per_block"):
        del saved[key]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = JointNerReConfig.from_pretrained(tmp_path)
    assert (loaded.windows_per_pass, loaded.re_pairs_per_block, loaded.re_tokens_per_block) == (32, 1024, 4096)
    with pytest.raises(ValueError, match="re_pairs_per_block must be >= 1"):
        JointNerReConfig(re_pairs_per_block=0)


# ---- the overlap rule on many mentions, and a corpus of one long document ----------------------------------------


def quadratic_overlap_rule(mentions: list[dict]) -> tuple[list[int], list[int]]:
    """The overlap rule as it was written before (each mention against every kept one): the reference."""
    order = sorted(range(len(mentions)), key=lambda i: (mentions[i]["start"] - mentions[i]["end"], mentions[i]["start"], i))
    kept, dropped = [], []
    for i in order:
        start, end = mentions[i]["start"], mentions[i]["end"]
        overlaps = any(start < mentions[k]["end"] and mentions[k]["start"] < end for k in kept)
        (dropped if overlaps else kept).append(i)
    return sorted(kept), sorted(dropped)


def test_the_overlap_rule_keeps_what_the_quadratic_rule_kept():
    """Random mention sets dense with overlaps (nested, equal, adjacent, empty spans)."""
    import random

    from loaders.words import select_non_overlapping

    rng = random.Random(0)
    for _ in range(2000):
        size = rng.randint(1, 60)
        mentions = []
        for _ in range(rng.randint(0, 40)):
            start = rng.randint(0, size)
            mentions.append({"start": start, "end": min(size, start + rng.choice([0, 1, 2, 3, 5, 8, 30]))})
        assert select_non_overlapping(mentions) == quadratic_overlap_rule(mentions), mentions


def test_a_corpus_of_one_long_document_has_the_ner_view_of_its_abstracts(tmp_path):
    """The `ner` view of one document made of many training abstracts (joined by spaces) is the abstracts' own
    `ner` views one after the other: tokens, tags and the mentions the overlap rule leaves out."""
    from bench.long_documents import one_document_corpus
    from loaders import load_corpus
    from loaders.documents import build_document
    from loaders.pubtator import iter_pubtator
    from loaders.schema import bio_label_names
    from loaders.views import ner_row

    long_document = one_document_corpus(BC5CDR.parent, 3000, tmp_path / "bc5cdr")
    (row,) = load_corpus("bc5cdr", "ner", data_dir=str(tmp_path / "bc5cdr"), cache_dir=str(tmp_path / "cache"))["train"]
    tag_ids = {name: i for i, name in enumerate(bio_label_names("bc5cdr"))}
    expected = {"tokens": [], "token_starts": [], "ner_tags": [], "dropped_mentions": []}
    offset, count = 0, 0
    for raw in iter_pubtator(BC5CDR, None, None):
        if count >= len(long_document.mentions):
            break
        part = ner_row(build_document(raw, "bc5cdr"), tag_ids)
        expected["tokens"] += part["tokens"]
        expected["token_starts"] += [start + offset for start in part["token_starts"]]
        expected["ner_tags"] += part["ner_tags"]
        expected["dropped_mentions"] += [{**m, "start": m["start"] + offset, "end": m["end"] + offset}
                                         for m in part["dropped_mentions"]]
        offset += len(raw.text) + 1
        count += len(raw.mentions)
    assert len(long_document.mentions) >= 3000 and row["text"] == long_document.text
    assert {key: row[key] for key in expected} == expected


# ---- a long document through extract, the pipeline and predict.py -----------------------------------------------

SMALL_BLOCKS = {"windows_per_pass": 8, "re_pairs_per_block": 64, "re_tokens_per_block": 1000}


@pytest.fixture(scope="module")
def long_model(encoder, tmp_path_factory) -> Path:
    """The tiny random model (no linker: entities are mention texts, so many pairs) saved with small blocks."""
    folder = write_tiny_model(encoder, tmp_path_factory.mktemp("long") / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **SMALL_BLOCKS}, indent=2))
    return folder


@pytest.fixture(scope="module")
def long_document() -> dict:
    from bench.long_documents import long_text

    return {"pmid": "long-1", "text": long_text(BC5CDR.parent, "worstcase", 12_000)}


def test_a_long_document_through_extract_the_pipeline_and_predict_py(long_model, long_document, tmp_path):
    """12,000 characters of training abstracts (the tiny model's character vocabulary makes them some 10,000
    tokens: about 90 windows, 10 token blocks, and about a thousand pairs): small blocks give what one block does,
    and the pipeline and predict.py give what `extract` does."""
    from transformers import AutoModel, pipeline

    from tests.test_result_contract import assert_same, check_contract

    model = AutoModel.from_pretrained(long_model, trust_remote_code=True).eval()
    assert {key: getattr(model.config, key) for key in SMALL_BLOCKS} == SMALL_BLOCKS
    tokenizer = load_tokenizer(long_model)
    windows = len(prepare_features(long_document, tokenizer, model.config, with_labels=False)["input_ids"])
    (blocked,) = model.extract(long_document, tokenizer, threshold=0.5)
    check_contract(blocked, long_document["text"])
    entities = blocked["entities"]
    pairs = sum(h["type"] == "Chemical" and t["type"] == "Disease" for h in entities for t in entities)
    assert windows > 5 * SMALL_BLOCKS["windows_per_pass"] and pairs > 5 * SMALL_BLOCKS["re_pairs_per_block"]
    assert blocked["relations"] and max(m["end"] for m in blocked["mentions"]) > len(long_document["text"]) - 1000
    for key in SMALL_BLOCKS:
        setattr(model.config, key, 10**9)
    (whole,) = model.extract(long_document, tokenizer, threshold=0.5)
    assert_same([blocked], [whole])

    assert_same([blocked], pipeline(model=str(long_model), trust_remote_code=True)([long_document], threshold=0.5))

    source, output = tmp_path / "long.jsonl", tmp_path / "long.out.jsonl"
    source.write_text(json.dumps(long_document) + "\n", encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "predict.py", "--model", str(long_model), "--input", str(source), "--output",
                           str(output), "--threshold", "0.5", "--no-progress"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same([blocked], [json.loads(output.read_text(encoding="utf-8"))])


# ---- training on a document too large for memory -----------------------------------------------------------------

TOO_LARGE = r"""
import resource, sys
import torch
torch.set_num_threads(1)
from bench.long_documents import concatenate
from biomed_nerre.training.data import FeatureCollator
from biomed_nerre.training.memory import BatchDoesNotFitError, explain_out_of_memory
from loaders.documents import build_document
from loaders.pubtator import iter_pubtator
from modeling import SciBertForJointNerRe, load_tokenizer
from modeling.preprocessing_joint_ner_re import prepare_features

encoder, corpus = sys.argv[1], sys.argv[2]
raws = [raw for raw, _ in zip(iter_pubtator(corpus, None, None), range(150))]
document = build_document(concatenate(raws, "424242"), "bc5cdr")
tokenizer = load_tokenizer(encoder)
model = SciBertForJointNerRe.from_encoder(encoder, max_length=128, stride=16, re_block_size=8).train()
batch = FeatureCollator(tokenizer.pad_token_id)([prepare_features(document, tokenizer, model.config)])
pmids = batch.pop("pmid")
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (size + 300 * 2**20, resource.RLIM_INFINITY))  # 300 MiB more, no further
try:
    with explain_out_of_memory(batch, pmids, "cpu"):
        model(**batch).loss.backward()
except BatchDoesNotFitError as error:
    print(error)
    sys.exit(0)
sys.exit("the step fit in memory")
"""


def test_a_document_too_large_to_train_on_is_named_in_one_clear_error(encoder):
    """A real allocation failure (the process may grow by 300 MiB; one step on 150 abstracts as one document needs
    more) becomes `BatchDoesNotFitError`, naming the document, its size and what to change."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", TOO_LARGE, str(encoder), str(BC5CDR)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    message = done.stdout.strip()
    assert message.startswith("a training batch of ") and "does not fit in the memory of cpu" in message
    assert "PMID 424242 (" in message and "tokens" in message and "--gradient-checkpointing true" in message


def test_gradient_checkpointing_gives_the_same_gradients(encoder, cache, tmp_path):
    """`--gradient-checkpointing true` (the encoder recomputes its activations in the backward pass): the same
    loss and gradients as without, on a document of several windows; and train.py runs with it."""
    from biomed_nerre.training.loop import enable_activation_checkpointing
    from biomed_nerre.training.main import main as train_main
    from tests.test_training_e2e import _common_flags

    tokenizer = load_tokenizer(encoder)
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(str(encoder), max_length=24, stride=4, re_block_size=8,
                                              classifier_dropout=0.0, encoder_overrides={"hidden_dropout_prob": 0.0,
                                                                                         "attention_probs_dropout_prob": 0.0})
    text = "naloxone reverses the effect of clonidine in rats with hypertension ."
    document = {"pmid": "1", "text": text * 4, "relations": [],
                "mentions": [{"start": k * len(text) + 32, "end": k * len(text) + 41, "type": "Chemical"} for k in range(4)]
                + [{"start": 50, "end": 62, "type": "Disease"}],
                "entities": [{"id": "C", "type": "Chemical", "mention_indices": [0, 1, 2, 3]},
                             {"id": "D", "type": "Disease", "mention_indices": [4]}]}
    batch = collate_features([prepare_features(document, tokenizer, model.config)], tokenizer.pad_token_id, 1)
    assert batch["input_ids"].size(0) > 3
    results = []
    for checkpointing in (False, True):
        if checkpointing:
            enable_activation_checkpointing(model)
        model.train().zero_grad()
        loss = model(**batch).loss
        loss.backward()
        results.append((loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    assert all(layer.gradient_checkpointing for layer in model.encoder.encoder.layer)
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6) and results[0][1].keys() == results[1][1].keys()
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, rtol=1e-4, atol=1e-6, msg=name)

    metrics = train_main(_common_flags(encoder, cache) + [
        "--num-epochs", "1", "--gradient-checkpointing", "true", "--output-dir", str(tmp_path / "model"),
        "--evaluate-test", "false", "--linker", "false", "--calibrate-re-threshold", "false"])
    assert metrics["training"]["global_step"] == 4
