"""Backbone families beyond BERT: windows and word decoding follow each family's tokenizer, decoder LLMs attend
both ways when asked, train.py overfits a few real documents on a tiny random model of every family, saved models
reload bit for bit (also through trust_remote_code in a fresh process), and a LoRA adapter saves small.

Tiny random models and tokenizers of each family's kind are built here (tests/tiny_backbones.py), from the
first BC5CDR training abstracts.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from loaders.pubtator import RawDocument, iter_pubtator, write_pubtator
from modeling import SciBertForJointNerRe, load_tokenizer
from modeling.postprocessing_joint_ner_re import decode_bio
from modeling.preprocessing_joint_ner_re import prepare_features, tokenize_text, window_special_tokens
from tests.tiny_backbones import FAMILIES, TRAINING_SET, training_texts, write_tiny_backbone
from tests.fresh_process import run_without_project_code

REPO = Path(__file__).resolve().parents[1]
DECODERS = [name for name, family in FAMILIES.items() if family.decoder]
# the special tokens each kind of tokenizer puts around a text
EXPECTED_SPECIALS = {"cls_sep": (["[CLS]"], ["[SEP]"]), "bos_eos": (["<s>"], ["</s>"]), "bos": (["<s>"], []),
                     "none": ([], [])}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return training_texts(30)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory, texts) -> dict[str, Path]:
    """Every family's tiny checkpoint, one folder each."""
    root = tmp_path_factory.mktemp("backbones")
    return {name: write_tiny_backbone(family, root / name, texts) for name, family in FAMILIES.items()}


def short_documents(count: int = 2) -> list[RawDocument]:
    """The first `count` BC5CDR training documents with a relation in their title and first sentence, cut there
    (title + first sentence, the annotations inside it): documents a tiny model overfits in a few dozen steps."""
    documents = []
    for document in iter_pubtator(TRAINING_SET, None, None):
        cut = document.abstract.find(". ")
        abstract = document.abstract[: cut + 1] if cut > 0 else document.abstract
        length = len(document.title) + 1 + len(abstract)
        mentions = [m for m in document.mentions if m.end <= length]
        ids = {i for m in mentions for i in m.ids}
        relations = [r for r in document.relations if r.head in ids and r.tail in ids]
        if relations:
            documents.append(RawDocument(document.pmid, document.title, abstract, mentions, relations))
        if len(documents) == count:
            return documents
    raise AssertionError("too few training documents with a relation")


@pytest.fixture(scope="module")
def overfit_data(tmp_path_factory) -> Path:
    """A release folder whose three splits all hold the same two short training documents: validation then
    scores the documents the model trains on (the overfit check), and nothing of BC5CDR test is read."""
    folder = tmp_path_factory.mktemp("overfit_data")
    documents = short_documents()
    for name in ("CDR_TrainingSet.PubTator.txt", "CDR_DevelopmentSet.PubTator.txt", "CDR_TestSet.PubTator.txt"):
        write_pubtator(folder / name, documents)
    return folder


# ---- tokenizers: windows and word decoding ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FAMILIES))
def test_windows_carry_the_tokenizers_own_special_tokens_and_trimmed_offsets(name, backbones, texts):
    family = FAMILIES[name]
    tokenizer = load_tokenizer(backbones[name])
    prefix, suffix = window_special_tokens(tokenizer)
    expected = EXPECTED_SPECIALS[family.specials]
    assert (tokenizer.convert_ids_to_tokens(prefix), tokenizer.convert_ids_to_tokens(suffix)) == expected
    model = SciBertForJointNerRe.from_encoder(str(backbones[name]), max_length=32, stride=8, re_block_size=8)
    features = prepare_features({"pmid": "1", "text": texts[0]}, tokenizer, model.config, with_labels=False)
    assert len(features["input_ids"]) > 2  # several windows
    for window in features["input_ids"]:
        assert len(window) <= 32
        assert window[: len(prefix)] == prefix and window[len(window) - len(suffix):] == suffix
    # each token's state is read at its own id's place in its window
    ids, offsets = tokenize_text(texts[0], tokenizer)
    for i, (w, p) in enumerate(zip(features["token_window"], features["token_position"])):
        assert features["input_ids"][w][p] == ids[i]
    for start, end in offsets:  # spans hold the characters, not the space a byte-level token carries
        piece = texts[0][start:end]
        assert piece == piece.strip() or not piece.strip(), (piece, start, end)


@pytest.mark.parametrize("name", ["qwen2", "gemma"])
def test_word_decoding_on_byte_level_bpe_and_sentencepiece_pieces(name, backbones):
    """A mention decodes to its word's exact characters, and the byte pieces of one character ("α" is two
    byte-level tokens with the same span) belong to one word: a tag on the second piece is not a new mention."""
    tokenizer = load_tokenizer(backbones[name])
    text = "Naloxone reverses clonidine and α-methyldopa induced hypotension."
    ids, offsets = tokenize_text(text, tokenizer)
    labels = ["O", "B-Chemical", "I-Chemical"]
    tags = [0] * len(ids)
    first = next(i for i, (s, e) in enumerate(offsets) if s == text.index("clonidine"))
    tags[first] = 1
    alpha = [i for i, (s, e) in enumerate(offsets) if s == text.index("α")]
    for i in alpha:
        tags[i] = 1  # every piece of "α" tagged B: still one mention, from the first piece
    mentions = decode_bio(tags, offsets, text, labels)
    assert [(m["text"], m["type"]) for m in mentions][0] == ("clonidine", "Chemical")
    assert [m["start"] for m in mentions].count(text.index("α")) == 1
    assert all(m["text"] == m["text"].strip() for m in mentions)


def test_a_left_padding_tokenizer_predicts_what_a_right_padding_one_does(backbones, texts):
    """Batches are padded on the right whatever the tokenizer's padding side (positions start at 0 in every
    window); a tokenizer without a pad token pads with id 0 under the attention mask."""
    tokenizer = load_tokenizer(backbones["llama"])
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id is None
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(str(backbones["llama"]), max_length=48, stride=8,
                                              re_block_size=8).eval()
    batched = model.extract(texts[:3], tokenizer, batch_size=3)
    alone = [model.extract(t, tokenizer)[0] for t in texts[:3]]
    right = load_tokenizer(backbones["llama"], padding_side="right")
    assert [r["mentions"] for r in batched] == [r["mentions"] for r in alone]
    assert [r["mentions"] for r in model.extract(texts[:3], right, batch_size=3)] == [r["mentions"] for r in batched]


# ---- bidirectional attention --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DECODERS + ["bert", "mamba"])
def test_a_tokens_state_sees_later_tokens_only_with_bidirectional_attention(name, backbones):
    """Changing the last token of a window changes the first token's state when attention is bidirectional, and
    leaves it exactly as it was under causal attention (decoders; encoders and SSMs have no switch)."""
    tokenizer = load_tokenizer(backbones[name])
    states = {}
    for bidirectional in (True, False):
        torch.manual_seed(0)
        model = SciBertForJointNerRe.from_encoder(str(backbones[name]), max_length=32, stride=8, re_block_size=8,
                                                  bidirectional_attention=bidirectional).eval()
        ids = tokenizer("Naloxone reverses clonidine induced hypotension", add_special_tokens=False)["input_ids"]
        changed = ids[:-1] + [ids[0] if ids[-1] != ids[0] else ids[1]]
        batch = torch.tensor([ids, changed])
        with torch.no_grad():
            hidden = model._encode_windows(batch, torch.ones_like(batch), None).view(2, len(ids), -1)
        states[bidirectional] = (hidden[0, 0] - hidden[1, 0]).abs().max().item()
    if FAMILIES[name].decoder:
        assert states[False] == 0.0 and states[True] > 1e-4, states
    elif name == "mamba":
        assert states[True] == states[False] == 0.0  # causal by construction
    else:
        assert states[True] > 1e-4 and states[False] > 1e-4, states


# ---- train.py on every family; save / load; remote code -------------------------------------------------------


def _train_flags(encoder: Path, data: Path, cache: Path, out: Path, steps: int) -> list[str]:
    return [
        "--dataset", "bc5cdr", "--data-dir", str(data), "--cache-dir", str(cache), "--encoder", str(encoder),
        "--output-dir", str(out), "--max-length", "64", "--stride", "16", "--re-block-size", "8",
        "--per-device-batch-size", "3", "--num-epochs", str(steps), "--eval-every-epochs", str(steps),
        "--encoder-lr", "1e-2", "--head-lr", "1e-2", "--warmup-ratio", "0", "--dropout", "0", "--re-loss-weight",
        "1.0", "--mixed-precision", "no", "--logging-steps", "1", "--early-stopping-patience", "0",
        "--save-steps", "0", "--save-total-limit", "1", "--calibrate-re-threshold", "false",
        "--evaluate-test", "false", "--linker", "false", "--seed", "0",
    ]


TRAIN_STEPS = 40


@pytest.fixture(scope="module")
def trained(backbones, overfit_data, tmp_path_factory) -> dict[str, tuple[Path, list[dict]]]:
    """train.py's model folder and log of each family, trained on the three short documents."""
    from biomed_nerre.training.main import main as train_main

    cache = tmp_path_factory.mktemp("cache")
    runs = {}
    for name in FAMILIES:
        out = tmp_path_factory.mktemp(f"run-{name}")
        metrics = train_main(_train_flags(backbones[name], overfit_data, cache, out / "model", TRAIN_STEPS))
        log = [json.loads(line) for line in (out / "model" / "trainer_log.jsonl").read_text().splitlines()]
        runs[name] = (out / "model", log, metrics)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_train_py_overfits_a_few_documents_on_each_family(name, trained):
    _, log, metrics = trained[name]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == TRAIN_STEPS and losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])
    validation = metrics["validation"]  # the training documents themselves
    assert validation["ner_f1"] == 1.0 and validation["re_gold_f1"] == 1.0, validation


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_saved_family_model_reloads_bit_for_bit(name, trained, overfit_data):
    folder, _, _ = trained[name]
    model = SciBertForJointNerRe.from_pretrained(folder).eval()
    tokenizer = load_tokenizer(folder)
    text = [d.text for d in short_documents()]
    first = model.extract(text, tokenizer)
    reloaded = SciBertForJointNerRe.from_pretrained(folder).eval()
    assert reloaded.extract(text, tokenizer) == first
    for key, value in model.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[key]), key


@pytest.mark.slow
def test_every_family_extracts_after_a_trust_remote_code_load_in_a_fresh_process(trained, lora_trained, tmp_path):
    """Each family's model without peft importable, then a LoRA adapter (whose base weights come from the
    checkpoint it names; it needs peft)."""
    folders = {name: str(folder) for name, (folder, _, _) in trained.items()}
    folders["llama-lora"] = str(lora_trained)
    texts = [d.text for d in short_documents()]
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["peft"] = None  # as if peft were not installed: `import peft` fails, find_spec says None
        from transformers import AutoModel, AutoTokenizer
        out = {{}}
        for name, folder in {folders!r}.items():
            if name.endswith("-lora"):
                assert sys.modules["peft"] is None  # the models without an adapter did without it
                del sys.modules["peft"]  # an adapter model needs it
            model = AutoModel.from_pretrained(folder, trust_remote_code=True)
            assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
            tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
            out[name] = model.extract({texts!r}, tokenizer)
        print(json.dumps(out))
        """
    )
    remote = run_without_project_code(script, cwd=tmp_path, timeout=600)
    for name, folder in folders.items():
        local = SciBertForJointNerRe.from_pretrained(folder).eval().extract(texts, load_tokenizer(folder))
        assert [r["mentions"] for r in remote[name]] == [r["mentions"] for r in local], name
        assert sum(len(r["mentions"]) for r in local) > 0, name


# ---- LoRA, bf16 weights, 4-bit ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wider_llama(tmp_path_factory, texts) -> Path:
    """A Llama whose layers outweigh its heads (hidden 64, MLP 256), so an adapter's size shows."""
    import dataclasses

    family = FAMILIES["llama"]
    family = dataclasses.replace(family, config=dict(family.config, hidden_size=64, intermediate_size=256,
                                                     num_attention_heads=4))
    return write_tiny_backbone(family, tmp_path_factory.mktemp("wider_llama"), texts)


def _train_steps(model: SciBertForJointNerRe, tokenizer, steps: int) -> list[float]:
    """A few optimizer steps on the short documents (the model's trainable parameters only)."""
    from modeling.preprocessing_joint_ner_re import collate_features

    documents = [{"pmid": d.pmid, "text": d.text,
                  "mentions": [{"start": m.start, "end": m.end, "type": m.type} for m in d.mentions]}
                 for d in short_documents()]
    batch = collate_features([prepare_features(d, tokenizer, model.config, with_entities=False) for d in documents],
                             tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    model.train()
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def test_a_lora_model_trains_its_adapter_and_heads_only_and_saves_them_alone(wider_llama, tmp_path):
    tokenizer = load_tokenizer(wider_llama)
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(str(wider_llama), max_length=64, stride=16, re_block_size=8, lora_r=4)
    base = load_file(wider_llama / "model.safetensors")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or not n.startswith("encoder.") for n in trainable)
    assert {n.split(".")[-4] for n in trainable if "lora_A" in n} == set(model.config.lora["target_modules"])
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    losses = _train_steps(model, tokenizer, 15)
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(torch.equal(frozen_before[n], p) for n, p in model.named_parameters() if not p.requires_grad)

    model.eval()
    texts = [d.text for d in short_documents()]
    before = model.extract(texts, tokenizer)
    model.save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    saved = load_file(tmp_path / "adapter" / "model.safetensors")
    assert not [k for k in saved if k.startswith("encoder.") and "lora_" not in k]
    config = json.loads((tmp_path / "adapter" / "config.json").read_text())
    assert config["encoder_name_or_path"] == str(wider_llama) and config["lora"]["r"] == 4
    full = SciBertForJointNerRe.from_encoder(str(wider_llama), max_length=64, stride=16, re_block_size=8)
    full.save_pretrained(tmp_path / "full")
    adapter_bytes = (tmp_path / "adapter" / "model.safetensors").stat().st_size
    full_bytes = (tmp_path / "full" / "model.safetensors").stat().st_size
    assert adapter_bytes < 0.25 * full_bytes, (adapter_bytes, full_bytes)

    reloaded = SciBertForJointNerRe.from_pretrained(tmp_path / "adapter").eval()
    assert reloaded.extract(texts, tokenizer) == before
    own = model.state_dict()
    assert all(torch.equal(value, own[key]) for key, value in reloaded.state_dict().items())
    assert set(reloaded.state_dict()) == set(own)
    assert all(torch.equal(base[key], own[f"encoder.{key}"] if f"encoder.{key}" in own else
                           own[".base_layer.".join(f"encoder.{key}".rsplit(".", 1))]) for key in base)


def test_bf16_encoder_weights_under_float32_heads_train_save_and_reload(wider_llama, tmp_path):
    tokenizer = load_tokenizer(wider_llama)
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(str(wider_llama), max_length=64, stride=16, re_block_size=8, lora_r=4,
                                              encoder_dtype="bfloat16")
    assert {p.dtype for n, p in model.named_parameters() if not p.requires_grad} == {torch.bfloat16}
    assert {p.dtype for n, p in model.named_parameters() if p.requires_grad} == {torch.float32}  # adapter, heads
    losses = _train_steps(model, tokenizer, 10)
    assert losses[-1] < losses[0], losses
    model.eval().save_pretrained(tmp_path / "bf16")
    texts = [d.text for d in short_documents()]
    reloaded = SciBertForJointNerRe.from_pretrained(tmp_path / "bf16").eval()
    assert next(reloaded.encoder.parameters()).dtype == torch.bfloat16
    assert reloaded.extract(texts, tokenizer) == model.extract(texts, tokenizer)


@pytest.fixture(scope="module")
def lora_trained(wider_llama, overfit_data, tmp_path_factory) -> Path:
    """train.py's folder of a LoRA adapter (rank 4, gradient checkpointing) on the wider Llama."""
    from biomed_nerre.training.main import main as train_main

    work = tmp_path_factory.mktemp("lora_run")
    train_main(_train_flags(wider_llama, overfit_data, work / "cache", work / "model", 20)
               + ["--lora-r", "4", "--gradient-checkpointing", "true"])
    return work / "model"


@pytest.mark.slow
def test_train_py_with_lora_and_gradient_checkpointing_saves_an_adapter_that_reloads(lora_trained, wider_llama):
    from biomed_nerre.evaluation.run import load_model

    out = lora_trained
    log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < 0.5 * losses[0], losses
    saved = load_file(out / "model.safetensors")
    assert any("lora_A" in k for k in saved) and not [k for k in saved if k.startswith("encoder.") and "lora_" not in k]
    model, tokenizer = load_model(str(out))
    assert model.config.lora["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                   "down_proj"]
    assert model.config.encoder_name_or_path == str(wider_llama)
    texts = [d.text for d in short_documents()]
    assert load_model(str(out))[0].extract(texts, tokenizer) == model.extract(texts, tokenizer)


def test_load_in_4bit_without_a_gpu_or_an_adapter_is_one_clear_error(tmp_path):
    from biomed_nerre.training.arguments import parse_args

    with pytest.raises(ValueError, match="needs a LoRA adapter"):
        parse_args(["--load-in-4bit", "true", "--output-dir", str(tmp_path)])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="bitsandbytes .* and a CUDA GPU"):
            parse_args(["--load-in-4bit", "true", "--lora-r", "4", "--output-dir", str(tmp_path)])


def _bitsandbytes_and_gpu() -> bool:
    import importlib.util

    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


@pytest.mark.skipif(not _bitsandbytes_and_gpu(), reason="4-bit weights need bitsandbytes and a CUDA GPU")
def test_a_4bit_encoder_with_lora_trains_and_reloads_on_a_gpu(wider_llama, tmp_path):
    tokenizer = load_tokenizer(wider_llama)
    model = SciBertForJointNerRe.from_encoder(str(wider_llama), max_length=64, stride=16, re_block_size=8, lora_r=4,
                                              load_in_4bit=True, encoder_dtype="bfloat16").cuda()
    losses = _train_steps(model, tokenizer, 10)
    assert losses[-1] < losses[0]
    model.eval().save_pretrained(tmp_path / "qlora")
    saved = load_file(tmp_path / "qlora" / "model.safetensors")
    assert not [k for k in saved if k.startswith("encoder.") and "lora_" not in k]
