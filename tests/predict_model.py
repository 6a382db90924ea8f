"""A tiny random joint model saved like train.py saves one, with sharpened heads so that it predicts a few
mentions and relations per abstract whose scores sit well away from the decision thresholds."""

from __future__ import annotations

from pathlib import Path

import torch

from modeling import SciBertForJointNerRe, load_tokenizer


def write_tiny_model(encoder: Path, folder: Path, entity_types=("Chemical", "Disease"),
                     relation_types=None) -> Path:
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(
        str(encoder), entity_types=list(entity_types), relation_types=relation_types or {"CID": ["Chemical", "Disease"]},
        max_length=128, stride=16, re_block_size=8, re_threshold=1.0,
    ).eval()
    with torch.no_grad():
        model.ner_classifier.weight.mul_(20)
        model.ner_classifier.bias.zero_()
        model.ner_classifier.bias[0] += 7.0  # "O": a few mentions per abstract
        model.bilinear.weight.mul_(300)
    model.save_pretrained(folder)
    load_tokenizer(encoder).save_pretrained(folder)
    return folder


def write_linked_tiny_model(encoder: Path, folder: Path) -> Path:
    """`write_tiny_model` with the linker of `tests.test_pipeline.save_linker_of_gold_names`, so that its mentions
    carry MeSH ids and its relations join linked entities."""
    from tests.test_pipeline import save_linker_of_gold_names

    write_tiny_model(encoder, folder)
    save_linker_of_gold_names(folder)
    return folder
