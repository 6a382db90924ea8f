"""Hub publishing: model folders and corpora exported as exactly the files to upload, plus their cards.

`push_to_hub.py` is the command line; `biomed_nerre.hub.model_card.write_model_card` is what train.py calls.
"""

from .dataset_card import build_dataset_card, corpus_card_info
from .export_dataset import export_dataset, export_dataset_dicts, write_parquet_configs
from .export_model import ExportError, export_model, plan_model_export
from .model_card import build_model_card, write_model_card
from .upload import MissingTokenError, upload_folder

__all__ = [
    "ExportError",
    "MissingTokenError",
    "build_dataset_card",
    "build_model_card",
    "corpus_card_info",
    "export_dataset",
    "export_dataset_dicts",
    "export_model",
    "plan_model_export",
    "upload_folder",
    "write_model_card",
    "write_parquet_configs",
]
