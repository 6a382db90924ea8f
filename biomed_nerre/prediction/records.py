"""What flows through prediction: input documents and input problems. Results are the model's result contract
(`modeling.outputs_joint_ner_re.DocumentResult`, coerced with `to_document_result`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modeling.outputs_joint_ner_re import document_text, passages_text


@dataclass(slots=True)
class Document:
    """One input document. `text` is what offsets index; `title`/`abstract` are kept when the input had them
    (then `text == document_text(title, abstract)`), so PubTator and BioC output can write them back as such.
    A BioC document keeps its `passages` (`offset`, `text`, `infons`, `skip`) and document `infons`, so BioC output
    gives back its passages, offsets and infons; its `text` is `passages_text(passages)`."""

    pmid: str
    text: str
    source: str  # "file, line N" / "file, row N": where the document came from (for error messages)
    title: str | None = None
    abstract: str | None = None
    passages: list[dict[str, Any]] | None = None
    infons: dict[str, str] | None = None

    @classmethod
    def from_parts(cls, pmid: str, source: str, title: str | None, abstract: str | None, text: str | None = None) -> "Document":
        """A document from a text and/or a title and abstract (title/abstract kept only if they make the text)."""
        if text is None:
            title, abstract = title or "", abstract or ""
            return cls(pmid, document_text(title, abstract), source, title, abstract)
        if title is not None and abstract is not None and document_text(title, abstract) == text:
            return cls(pmid, text, source, title, abstract)
        return cls(pmid, text, source)

    @classmethod
    def from_passages(cls, pmid: str, source: str, passages: list[dict[str, Any]],
                      infons: dict[str, str] | None = None) -> "Document":
        """A document of BioC passages (`InputError` from `passages_text` when they overlap). When its first
        passage starts at 0 and a space follows it, that passage is the title and the rest of the text the abstract
        (BC5CDR's and PubMed's title/abstract layout; a full-text article's title and body), so PubTator output keeps
        every offset."""
        text = passages_text(passages, source)
        title = abstract = None
        if passages and passages[0]["offset"] == 0 and len(text) > len(passages[0]["text"]) \
                and text[len(passages[0]["text"])] == " ":
            title = text[:len(passages[0]["text"])]
            abstract = text[len(title) + 1:]
        return cls(pmid, text, source, title, abstract, passages, infons)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Problem:
    """A bad input unit met with --skip-errors: where (file and line/row), which document if known, what."""

    source: str
    message: str
    pmid: str | None = None

    def __str__(self) -> str:
        who = f" (document {self.pmid})" if self.pmid else ""
        return f"{self.source}{who}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
