"""Build what the concept linker knows: names from corpus annotations and public vocabularies.

    from biomed_nerre.linking import linker_rows, read_names_file
    rows, metadata = linker_rows(train_documents, ["Chemical", "Disease"], vocab_dir="../shared/data/vocab")
    linker = ConceptLinker.from_names(rows, metadata=metadata)    # modeling.linking_joint_ner_re

Parsing and downloading live here; linking at prediction time lives in `modeling/linking_joint_ner_re.py`.
"""

from .build import linker_rows, vocabulary_names
from .names import NamesFileError, corpus_names, read_names_file
from .vocabularies import VocabularyFormatError, VocabularyReport

__all__ = [
    "NamesFileError",
    "VocabularyFormatError",
    "VocabularyReport",
    "corpus_names",
    "linker_rows",
    "read_names_file",
    "vocabulary_names",
]
