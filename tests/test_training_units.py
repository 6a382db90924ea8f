"""Unit tests of the training pieces that stand alone: settings, batch sampler, checkpoint bookkeeping."""

from __future__ import annotations

import json

import pytest
import torch

from biomed_nerre.training.arguments import TrainingArguments, parse_args
from biomed_nerre.training.checkpointing import COMPLETE_MARKER, list_complete_checkpoints, resolve_resume_path
from biomed_nerre.training.sampler import LengthGroupedBatchSampler


def test_yaml_settings_are_overridden_by_flags(tmp_path):
    settings = tmp_path / "run.yaml"
    settings.write_text("encoder: some/encoder\nper-device-batch-size: 3\nhead_lr: 0.5\ngroup_by_length: false\n")
    args = parse_args(["--config", str(settings), "--head-lr", "0.25", "--output-dir", str(tmp_path / "m")])
    assert args.encoder == "some/encoder"
    assert args.per_device_batch_size == 3
    assert args.head_lr == 0.25  # the flag wins over the file
    assert args.group_by_length is False
    assert args.run_name == "m"


def test_unknown_yaml_setting_names_the_file(tmp_path):
    settings = tmp_path / "bad.yaml"
    settings.write_text("learning_rate: 1e-5\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown setting 'learning_rate'"):
        parse_args(["--config", str(settings)])


def test_invalid_choices_are_rejected():
    with pytest.raises(ValueError, match="selection_metric"):
        TrainingArguments(selection_metric="accuracy")
    with pytest.raises(ValueError, match="stride"):
        TrainingArguments(max_length=64, stride=62)
    with pytest.raises(ValueError, match="calibration_docs must be >= 0"):
        TrainingArguments(calibration_docs=-1)


def test_test_hooks_and_removed_options_are_not_flags(capsys):
    """Killing a run mid-way is done by tests/train_killed.py, not by a train.py flag; the removed NER options
    are gone from the command line too."""
    for flag in ("--stop-after-steps", "--ner-label-continuations"):
        with pytest.raises(SystemExit) as stop:
            parse_args([flag, "1"])
        assert stop.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_training_on_validation_keeps_selection_and_calibration_to_the_documents_before():
    args = TrainingArguments(train_on_validation_from=200, limit_eval_docs=200, calibration_docs=150)
    assert args.train_on_validation_from == 200
    for bad in (dict(limit_eval_docs=0, calibration_docs=200), dict(limit_eval_docs=200, calibration_docs=0),
                dict(limit_eval_docs=201, calibration_docs=200)):
        with pytest.raises(ValueError, match="never selected or calibrated on documents it was trained on"):
            TrainingArguments(train_on_validation_from=200, **bad)
    with pytest.raises(ValueError, match="train_on_validation_from must be >= 0"):
        TrainingArguments(train_on_validation_from=-1)


def test_training_args_round_trip_as_json(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path / "out"), num_epochs=2.5)
    args.save(tmp_path / "args.json")
    assert TrainingArguments(**json.loads((tmp_path / "args.json").read_text())) == args


def test_sampler_covers_every_index_once_and_groups_lengths():
    lengths = [(i * 37) % 101 for i in range(230)]
    sampler = LengthGroupedBatchSampler(lengths, batch_size=8, seed=1, mega_batch_mult=5)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 29
    assert sorted(i for batch in batches for i in batch) == list(range(230))
    # inside a mega-batch documents are sorted by length, so a batch spans a narrow range of lengths
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    random_spread = sum(
        max(lengths[i] for i in b) - min(lengths[i] for i in b)
        for b in LengthGroupedBatchSampler(lengths, 8, seed=1, group_by_length=False)
    ) / len(batches)
    assert spread < random_spread / 2


def test_sampler_order_depends_only_on_seed_and_epoch():
    lengths = list(range(50))
    first = LengthGroupedBatchSampler(lengths, 4, seed=7)
    second = LengthGroupedBatchSampler(lengths, 4, seed=7)
    first.set_epoch(3)
    second.set_epoch(3)
    assert list(first) == list(second)
    second.set_epoch(4)
    assert list(first) != list(second)


def test_only_complete_checkpoints_are_resumable(tmp_path):
    root = tmp_path / "checkpoints"
    for name, complete in [("step-000002", True), ("step-000010", True), ("step-000012.partial", True), ("step-000011", False)]:
        (root / name).mkdir(parents=True)
        if complete:
            (root / name / COMPLETE_MARKER).write_text("{}")
    assert [p.name for p in list_complete_checkpoints(tmp_path)] == ["step-000002", "step-000010"]
    assert resolve_resume_path("latest", tmp_path).name == "step-000010"
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        resolve_resume_path(str(root / "step-000011"), tmp_path)
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        resolve_resume_path("latest", tmp_path / "elsewhere")


def test_optimizer_groups_names_and_fused_kernel():
    from biomed_nerre.training.optimization import build_optimizer

    model = torch.nn.Module()
    model.encoder = torch.nn.Module()
    model.encoder.dense, model.encoder.LayerNorm = torch.nn.Linear(4, 4), torch.nn.LayerNorm(4)  # BERT's names
    model.head = torch.nn.Linear(4, 2)
    optimizer = build_optimizer(model, encoder_lr=1e-4, head_lr=1e-3, weight_decay=0.01)
    groups = {(g["name"], g["weight_decay"]): (g["lr"], len(g["params"])) for g in optimizer.param_groups}
    # encoder: Linear weight decays; Linear bias and both LayerNorm tensors do not. Head: weight / bias.
    assert groups == {("encoder", 0.01): (1e-4, 1), ("encoder", 0.0): (1e-4, 3),
                      ("heads", 0.01): (1e-3, 1), ("heads", 0.0): (1e-3, 1)}
    assert optimizer.defaults["fused"] is True
    with pytest.raises(ValueError, match="encoder"):
        build_optimizer(torch.nn.Linear(2, 2), 1e-4, 1e-3, 0.0)


def test_threshold_table_scores_each_margin_and_the_best_is_picked():
    from biomed_nerre.training.calibration import best_threshold_row, threshold_table

    gold = [{"pmid": "1", "relations": [{"label": "CID", "head": "C1", "tail": "D1"},
                                         {"label": "CID", "head": "C1", "tail": "D2"}]}]
    # scores are sigmoid(margin): margins 2.0 (correct), 0.5 (wrong), -0.5 (correct)
    sigmoid = lambda x: 1 / (1 + 2.718281828459045 ** -x)  # noqa: E731
    scored = [{"pmid": "1", "relations": [{"label": "CID", "head": "C1", "tail": "D1", "score": sigmoid(2.0)},
                                          {"label": "CID", "head": "C2", "tail": "D1", "score": sigmoid(0.5)},
                                          {"label": "CID", "head": "C1", "tail": "D2", "score": sigmoid(-0.5)}]}]
    table = threshold_table(gold, scored, ["CID"], grid=[-1.0, 0.0, 1.0, 3.0])
    by_margin = {row["threshold"]: row for row in table}
    assert by_margin[-1.0]["precision"] == pytest.approx(2 / 3) and by_margin[-1.0]["recall"] == 1.0  # all three
    assert by_margin[0.0]["precision"] == 0.5 and by_margin[0.0]["recall"] == 0.5  # 2.0 and 0.5 kept
    assert by_margin[1.0]["precision"] == 1.0 and by_margin[1.0]["recall"] == 0.5  # 2.0 kept
    assert by_margin[3.0]["f1"] == 0.0
    assert best_threshold_row(table)["threshold"] == -1.0  # F1 0.8 beats 0.667
    # equal F1: the margin closest to 0 wins, then the lower one
    tied = [{"threshold": t, "f1": 0.5} for t in (-1.0, -0.5, 0.5, 1.0)]
    assert best_threshold_row(tied)["threshold"] == -0.5


def test_selection_uses_the_calibrated_relation_f1_when_the_threshold_is_calibrated():
    from biomed_nerre.training.validation import selection_value

    metrics = {"ner_f1": 0.8, "re_gold_f1": 0.4, "re_gold_f1_calibrated": 0.6}
    assert selection_value(metrics, "mean_f1") == pytest.approx(0.6)
    assert selection_value(metrics, "mean_f1", calibrated=True) == pytest.approx(0.7)
    assert selection_value(metrics, "re_f1", calibrated=True) == pytest.approx(0.6)
    assert selection_value(metrics, "ner_f1", calibrated=True) == pytest.approx(0.8)


def test_full_determinism_is_on_inside_the_block_and_restored_after():
    import torch

    from biomed_nerre.training.determinism import full_determinism

    assert not torch.are_deterministic_algorithms_enabled()
    with full_determinism(False):
        assert not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="inside"):
        with full_determinism(True):
            assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
            raise RuntimeError("inside")
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic


def test_truncate_log_drops_re_run_steps_and_a_cut_last_line(tmp_path):
    from biomed_nerre.training.checkpointing import truncate_log

    log = tmp_path / "trainer_log.jsonl"
    records = [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.9}, {"step": 2, "validation": {}}, {"step": 3, "loss": 0.8}]
    log.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": 4, "lo')
    assert truncate_log(log, 2) == 2
    assert [json.loads(line) for line in log.read_text().splitlines()] == records[:3]
    assert truncate_log(log, 2) == 0 and truncate_log(tmp_path / "missing.jsonl", 0) == 0
    log.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"trainer_log\.jsonl, line 2"):
        truncate_log(log, 1)


def test_each_accumulation_window_gets_the_mean_gradient_of_its_own_batches():
    """5 batches at 2 per optimizer step: windows of 2, 2 and 1, through Accelerate's real accumulation."""
    from accelerate import Accelerator

    from biomed_nerre.training.optimization import accumulation_scale

    accelerator = Accelerator(gradient_accumulation_steps=2)
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    inputs = [torch.tensor([[float(i + 1)]]) for i in range(5)]
    loader = torch.utils.data.DataLoader(inputs, batch_size=None)
    model, loader = accelerator.prepare(model, loader)
    window, gradients = [], []
    for index, x in enumerate(loader):
        with accelerator.accumulate(model):
            loss = (model(x) - 1.0).pow(2).sum()  # gradient at weight 0: -2x
            window.append(-2 * x.item())
            accelerator.backward(loss * accumulation_scale(index, len(loader), 2))
            if accelerator.sync_gradients:
                gradients.append((model.weight.grad.item(), sum(window) / len(window)))
                model.zero_grad()
                window = []
    assert len(gradients) == 3
    for got, mean in gradients:
        assert got == pytest.approx(mean)
    assert accumulation_scale(4, 5, 2) == 2.0 and accumulation_scale(3, 5, 2) == 1.0
    assert accumulation_scale(5, 6, 4) == 2.0 and accumulation_scale(0, 4, 1) == 1.0


def test_feature_cache_key_covers_every_modeling_module_that_makes_features():
    """Every project module preprocessing takes code from must be hashed into the feature cache key (the
    config's values are in the key already)."""
    import inspect
    import sys

    from modeling import preprocessing_joint_ner_re as preprocessing
    from biomed_nerre.training.data import FEATURE_CODE

    used = {inspect.getmodule(value) for value in vars(preprocessing).values()
            if inspect.isfunction(value) or inspect.isclass(value)}
    project = {module for module in used if module is not None and module.__name__.startswith("modeling.")}
    project.discard(sys.modules["modeling.configuration_joint_ner_re"])
    assert project and project <= set(FEATURE_CODE) and preprocessing in FEATURE_CODE
