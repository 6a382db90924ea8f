"""Training of SciBertForJointNerRe with Accelerate (entry point: the top-level ``train.py``)."""

from biomed_nerre.training.arguments import TrainingArguments, parse_args

__all__ = ["TrainingArguments", "parse_args"]
