"""Corpus-scale prediction: read documents in many formats, run `extract` over them in resumable chunks
shared by the processes of an Accelerate launch, write one result file (`predict.py` is the entry point).

Floors: this package reads inputs and writes outputs around a loaded model; it imports `modeling` (for
corpus id forms) and `loaders` (the PubTator reader), never training, evaluation or hub.
"""

from .readers import INPUT_FORMATS, InputError, read_inputs
from .records import Document, Problem
from .writers import OUTPUT_FORMATS, open_writer, output_format_for

__all__ = [
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "Document",
    "InputError",
    "Problem",
    "open_writer",
    "output_format_for",
    "read_inputs",
]
