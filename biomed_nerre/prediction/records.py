"""What flows through prediction: input documents, input problems, and normalised results."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping


@dataclass(slots=True)
class Document:
    """One input document. `text` is what offsets index; `title`/`abstract` are kept when the input had them
    (then `text == title + " " + abstract`), so PubTator and BioC output can write them back as such."""

    pmid: str
    text: str
    source: str  # "file, line N" / "file, row N": where the document came from (for error messages)
    title: str | None = None
    abstract: str | None = None

    @classmethod
    def from_parts(cls, pmid: str, source: str, title: str | None, abstract: str | None, text: str | None = None) -> "Document":
        """A document from a text and/or a title and abstract (title/abstract kept only if they make the text)."""
        if text is None:
            title, abstract = title or "", abstract or ""
            return cls(pmid, title + " " + abstract, source, title, abstract)
        if title is not None and abstract is not None and title + " " + abstract == text:
            return cls(pmid, text, source, title, abstract)
        return cls(pmid, text, source)

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


def normalise_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """`extract`'s result in the output contract: every mention has `ids` (empty = not linked) and
    `link_score` (None without a linker), whatever the model version; extra keys are dropped."""
    mentions = [
        {
            "start": int(m["start"]),
            "end": int(m["end"]),
            "text": m["text"],
            "type": m["type"],
            "ids": [str(i) for i in (m.get("ids") or [])],
            "link_score": None if m.get("link_score") is None else float(m["link_score"]),
        }
        for m in result["mentions"]
    ]
    entities = [
        {"id": str(e["id"]), "type": e["type"], "mention_indices": [int(i) for i in e["mention_indices"]]}
        for e in result["entities"]
    ]
    relations = [
        {"label": r["label"], "head": str(r["head"]), "tail": str(r["tail"]), "score": float(r["score"])}
        for r in result["relations"]
    ]
    return {"pmid": str(result["pmid"]), "mentions": mentions, "entities": entities, "relations": relations}
