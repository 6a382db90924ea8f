"""biomed-nerre: joint biomedical NER, concept linking and relation extraction, Hub-native.

The promised top-level packages stay where users expect them: `loaders` (the corpora as `datasets`) and
`modeling` (the model, which ships with its weights). Everything else lives under this one distinctive name,
so that a user's own `biomed_nerre.training.py` or `biomed_nerre.evaluation.py` in the working folder cannot shadow it:

- `biomed_nerre.training`: the Accelerate training loop (`train.py`)
- `biomed_nerre.evaluation`: metrics, prediction files, plots (`evaluate.py`)
- `biomed_nerre.linking`: vocabularies and names files -> the linker's name rows
- `biomed_nerre.prediction`: corpus-scale prediction (`predict.py`, `link.py`)
- `biomed_nerre.hub`: Hub export and upload, model and dataset cards (`push_to_hub.py`)
"""
