"""The stock-tools baseline: `AutoModelForTokenClassification` trained with the transformers `Trainer`.

It reads the `ner` view of a corpus (word tokens + BIO tags), labels the first subword of each word
(the usual recipe of the transformers token-classification example), truncates at the encoder's
window like a stock user would, and turns word-level predictions back into character-offset mentions
so that it is scored by exactly the same code as the joint model (`biomed_nerre.evaluation.scoring.score_ner`).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python bench/trainer_baseline.py`: the repository root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Any

import datasets
import numpy as np
import torch
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    Trainer,
    TrainingArguments,
)

from loaders.words import spans_from_bio


def tokenize_ner_view(rows: datasets.Dataset, tokenizer, max_length: int) -> datasets.Dataset:
    """Subword features with labels on first subwords (-100 elsewhere); keeps `length` for grouping."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        labels, lengths = [], []
        for i, tags in enumerate(batch["ner_tags"]):
            previous, row = None, []
            for word in encoded.word_ids(i):
                row.append(-100 if word is None or word == previous else tags[word])
                previous = word
            labels.append(row)
            lengths.append(len(row))
        encoded["labels"] = labels
        encoded["length"] = lengths
        return encoded

    return rows.map(encode, batched=True, remove_columns=rows.column_names, desc="baseline features")


def build_trainer(
    encoder: str,
    label_names: list[str],
    train_rows: datasets.Dataset,
    eval_rows: datasets.Dataset | None,
    output_dir: str | Path,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    seed: int,
    max_length: int = 512,
    warmup_ratio: float = 0.1,
    max_steps: int = -1,
    attention_dropout: float | None = None,
    bf16: bool = False,
) -> tuple[Trainer, Any]:
    """A `Trainer` over the `ner` view with evaluation and best-model selection on seqeval F1 (`bf16`: bf16
    autocast mixed precision, as train.py's `--mixed-precision bf16`)."""
    from biomed_nerre.evaluation.ner_metrics import seqeval_scores

    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForTokenClassification.from_pretrained(
        encoder,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
        **({} if attention_dropout is None else {"attention_probs_dropout_prob": attention_dropout}),
    )
    train_features = tokenize_ner_view(train_rows, tokenizer, max_length)
    eval_features = tokenize_ner_view(eval_rows, tokenizer, max_length) if eval_rows is not None else None

    def compute_metrics(prediction) -> dict[str, float]:
        logits, labels = prediction
        predicted = np.argmax(logits, axis=-1)
        gold_tags, predicted_tags = [], []
        for row_pred, row_gold in zip(predicted, labels):
            keep = row_gold != -100
            gold_tags.append([label_names[t] for t in row_gold[keep]])
            predicted_tags.append([label_names[t] for t in row_pred[keep]])
        return {"f1": seqeval_scores(gold_tags, predicted_tags)["micro"]["f1"]}

    args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=16,
        warmup_steps=warmup_ratio,
        weight_decay=0.01,
        seed=seed,
        train_sampling_strategy="group_by_length",
        eval_strategy="epoch" if eval_features is not None else "no",
        save_strategy="epoch" if eval_features is not None else "no",
        save_total_limit=1,
        load_best_model_at_end=eval_features is not None,
        metric_for_best_model="f1",
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        logging_steps=50,
        include_num_input_tokens_seen="non_padding",
        bf16=bf16,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=eval_features,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=compute_metrics if eval_features is not None else None,
    )
    return trainer, tokenizer


def predict_mentions(model, tokenizer, rows: datasets.Dataset, label_names: list[str], max_length: int = 512,
                     batch_size: int = 16) -> tuple[list[dict], int]:
    """Character-offset mentions per document (like `extract`'s output) and the number of truncated words.

    Runs the model in a plain loop in document order: `Trainer.predict` may group its batches by length
    when the Trainer was built with `train_sampling_strategy="group_by_length"`, which reorders rows.
    """
    collator = DataCollatorForTokenClassification(tokenizer)
    model.eval()
    outputs, truncated = [], 0
    for start in range(0, len(rows), batch_size):
        chunk = rows.select(range(start, min(start + batch_size, len(rows))))
        encoded = [tokenizer(r["tokens"], is_split_into_words=True, truncation=True, max_length=max_length) for r in chunk]
        batch = collator([{k: e[k] for k in ("input_ids", "attention_mask")} for e in encoded])
        with torch.inference_mode():
            predicted = model(**{k: v.to(model.device) for k, v in batch.items()}).logits.argmax(-1).cpu()
        for row, enc, row_pred in zip(chunk, encoded, predicted):
            tags = ["O"] * len(row["tokens"])
            seen = set()
            for position, word in enumerate(enc.word_ids()):
                if word is not None and word not in seen:
                    seen.add(word)
                    tags[word] = label_names[int(row_pred[position])]
            truncated += len(row["tokens"]) - len(seen)
            spans = list(zip(row["token_starts"], row["token_ends"]))
            mentions = [
                {"start": s_, "end": e_, "text": row["text"][s_:e_], "type": entity_type}
                for s_, e_, entity_type in spans_from_bio(spans, tags)
            ]
            outputs.append({"pmid": row["pmid"], "mentions": mentions, "entities": [], "relations": []})
    return outputs, truncated


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        prog=f"bench/trainer_baseline.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(__doc__ or "") + "\nA helper module, not a benchmark: bench/quality.py and bench/speed.py import it.",
    ).parse_args()
    print("bench/trainer_baseline.py is a helper module: run bench/quality.py and bench/speed.py instead")
