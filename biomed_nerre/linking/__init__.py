"""Build what the concept linker knows: names from corpus annotations and public vocabularies.

    from biomed_nerre.linking import build_linker, corpus_documents, linker_rows, read_names_file
    rows, metadata = linker_rows(train_documents, ["Chemical", "Disease"], vocab_dir="../shared/data/vocab")
    linker = ConceptLinker.from_names(rows, metadata=metadata)    # modeling.linking_joint_ner_re
    documents = corpus_documents("bc5cdr", ["train", "validation"], data_dir="../shared/data/bc5cdr")
    linker = build_linker(documents, ["Chemical", "Disease"], corpus="bc5cdr", splits=["train", "validation"],
                          vocab_dir="../shared/data/vocab")           # what train.py builds into the model

Parsing and downloading live here; linking at prediction time lives in `modeling/linking_joint_ner_re.py`.
"""

from .build import build_linker, corpus_documents, linker_rows, vocabulary_names
from .names import NamesFileError, corpus_names, read_names_file
from .vocabularies import VocabularyFormatError, VocabularyReport

__all__ = [
    "NamesFileError",
    "VocabularyFormatError",
    "VocabularyReport",
    "build_linker",
    "corpus_documents",
    "corpus_names",
    "linker_rows",
    "read_names_file",
    "vocabulary_names",
]
