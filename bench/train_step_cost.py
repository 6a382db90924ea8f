"""Cost per encoded position of one training step: the joint model against `BertForTokenClassification`.

    python bench/train_step_cost.py [--batches 30] [--passes 2] [--bf16] [--profile-head]

The joint model also runs with its NER loss only (no entity tensors, so the relation head does nothing),
which isolates the relation head's share. All get the same batches (the first ones of train.py's loader,
all windows of each batch) and run forward, backward, gradient clipping and a fused AdamW step, so the
figures compare the models alone, without either training loop. The token-classification model gets random labels on the real positions.
Prints encoded positions per second for each pass (the first 2 batches of a pass are not timed), and the
relation head alone: its forward and backward (with the adaptive-threshold loss) on the encoder's output for
the same batches, computed beforehand, in milliseconds per batch and as a share of the joint model's step.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    import torch
    from transformers import AutoModelForTokenClassification

    from bench.common import bench_parser, default_encoder
    from modeling import SciBertForJointNerRe
    from modeling.modeling_joint_ner_re import adaptive_threshold_loss
    from modeling.preprocessing_joint_ner_re import load_tokenizer
    from biomed_nerre.training.data import corpus_labels, featurize, load_documents, make_train_dataloader
    from biomed_nerre.training.optimization import build_optimizer

    parser = bench_parser(__doc__, encoder=True)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="Forward passes under bf16 autocast (as --mixed-precision bf16).")
    parser.add_argument("--profile-head", action="store_true",
                        help="Also print a torch.profiler table of the relation head alone over the timed batches.")
    args = parser.parse_args()
    encoder = args.encoder or default_encoder()

    torch.manual_seed(0)
    entity_types, relation_types = corpus_labels("bc5cdr")
    tokenizer = load_tokenizer(encoder)
    no_attention_dropout = {"attention_probs_dropout_prob": 0.0}
    joint = SciBertForJointNerRe.from_encoder(encoder, entity_types=entity_types, relation_types=relation_types,
                                              encoder_overrides=no_attention_dropout)
    tagger = AutoModelForTokenClassification.from_pretrained(encoder, num_labels=len(joint.config.ner_labels),
                                                             **no_attention_dropout)
    features = featurize(load_documents("bc5cdr", "", args.data_dir)["train"], tokenizer, joint.config)
    loader, _ = make_train_dataloader(features.with_format(None), args.batch_size, 42, tokenizer.pad_token_id, True)
    batches = [batch for _, batch in zip(range(args.batches), loader)]
    for batch in batches:
        batch.pop("pmid")  # the loader's document ids, not a model input
    labels = [torch.randint(0, len(joint.config.ner_labels), b["input_ids"].shape).masked_fill(b["attention_mask"] == 0, -100)
              for b in batches]

    def joint_loss(index: int) -> torch.Tensor:
        return joint(**batches[index]).loss

    ner_keys = ("input_ids", "attention_mask", "token_index", "token_mask", "ner_labels")

    def joint_ner_loss(index: int) -> torch.Tensor:  # the same model without its relation head's work
        return joint(**{k: batches[index][k] for k in ner_keys}).loss

    def tagger_loss(index: int) -> torch.Tensor:
        batch = batches[index]
        return tagger(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels[index]).loss

    systems = {
        "joint model (NER + RE losses)": (joint, joint_loss, build_optimizer(joint, 1e-5, 1e-4, 0.01)),
        "joint model (NER loss only)": (joint, joint_ner_loss, build_optimizer(joint, 1e-5, 1e-4, 0.01)),
        "BertForTokenClassification": (tagger, tagger_loss, torch.optim.AdamW(tagger.parameters(), lr=1e-5, fused=True)),
    }
    with torch.no_grad():  # the relation head's input, fixed: only the head's own work is timed below
        sequences = [joint.encode(b["input_ids"], b["attention_mask"], b["token_index"]) for b in batches]

    def relation_head_alone(index: int) -> float:
        batch, sequence = batches[index], sequences[index].clone().requires_grad_()
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            raw, allowed = joint.relation_logits(sequence, batch["token_mask"], batch["mention_index"],
                                                 batch["mention_mask"], batch["entity_types"], batch["pairs"])
        adaptive_threshold_loss(raw.float(), batch["pair_labels"], allowed, batch["pair_mask"]).backward()
        return time.perf_counter() - start

    positions = sum(b["input_ids"].numel() for b in batches[2:])
    timed = len(batches) - 2
    print(f"{len(batches)} batches, {positions} positions timed per pass")
    for index in range(args.passes):
        step_seconds = {}
        for name, (model, loss_of, optimizer) in systems.items():
            model.train()
            seconds = 0.0
            for i in range(len(batches)):
                start = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                    loss = loss_of(i)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad()
                if i >= 2:
                    seconds += time.perf_counter() - start
            step_seconds[name] = seconds
            print(f"pass {index + 1}, {name}: {positions / seconds:.0f} positions/s ({seconds:.1f} s)", flush=True)
        joint.zero_grad(set_to_none=True)
        head_seconds = sum(relation_head_alone(i) for i in range(2, len(batches)))
        joint.zero_grad(set_to_none=True)
        share = head_seconds / step_seconds["joint model (NER + RE losses)"]
        print(f"pass {index + 1}, relation head alone (forward + backward): {1000 * head_seconds / timed:.1f} ms per "
              f"batch, {share:.1%} of the joint model's step", flush=True)
    if args.profile_head:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            for i in range(2, len(batches)):
                relation_head_alone(i)
        joint.zero_grad(set_to_none=True)
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
