"""biomed-nerre as a spaCy pipeline component: the factory `biomed_nerre` runs a model on each Doc's text and
maps the `DocumentResult` (modeling/outputs_joint_ner_re.py) onto the Doc.

    nlp = spacy.blank("en")             # or a whole pipeline: scispaCy's, en_core_web_sm, ...
    nlp.add_pipe("biomed_nerre", config={"model": "models/quickstart-bc5cdr-minilm"})   # a folder or a Hub id
    doc = nlp("Naloxone reverses the antihypertensive effect of clonidine.")

What a processed Doc holds (docs/spacy.md says the same):

- `doc.spans[spans_key]` (default "biomed_nerre"): one span per mention, in text order, on the tokens that cover
  it (`alignment_mode`, default "expand": a mention that starts or ends inside a spaCy token gets the whole
  token). Label = the entity type, `kb_id_` = the first concept id ("" when not linked).
- `doc.ents`: those spans, except a span sharing a token with an earlier one, and, unless `overwrite_ents`, a
  span on a token of an entity set before this component (as spaCy's EntityRuler does).
- span extensions: `span._.mention` (the mention as the model gave it: offsets and text in the Doc's text, which
  differ from the span's when it was expanded), `span._.concept_ids` (every id), `span._.link_score`,
  `span._.entity_ids` (the ids of the document-level entities the mention belongs to: what relations name).
- `doc._.relations`: the relations, `{"label", "head", "tail", "score"}`, head and tail being entity ids.
- `doc._.unaligned_mentions`: mentions that got no span of their own (none under "expand" unless two mentions
  fall on the same tokens; under "strict" or "contract" also those whose edges are not token edges), each the
  mention with its `entity_ids`. Nothing the model found is dropped.

The model loads on first use, not when the pipe is added. `nlp.to_disk` copies it (weights, tokenizer, linker,
gazetteer) into the pipeline folder, and `spacy.load` reads that copy: a saved pipeline moves between machines
without the original folder. `nlp.to_disk(path, exclude=["biomed_nerre"])` writes no copy; `spacy.load` then
loads the `model` the config names.

spaCy is an optional dependency (the `spacy` extra): nothing else in the package imports this module; spaCy finds
the factory through the `spacy_factories` entry point. No `from __future__ import annotations` here: spaCy checks
the factory's settings against its annotations at run time.
"""

import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from modeling.outputs_joint_ner_re import DocumentResult, InputError, Mention, probability_to_margin, to_document_result

FACTORY = "biomed_nerre"
ALIGNMENT_MODES = ("expand", "contract", "strict")
MODEL_FOLDER = "model"  # the model's copy inside the component's folder of a saved pipeline


def _mention_of(span: Span) -> Optional[Mention]:
    """The mention stored on `span`, when the span is of its type (an entity of another component that happens to
    cover the same characters reads as no mention)."""
    mention = span._.mention
    return mention if mention is not None and mention["type"] == span.label_ else None


def _concept_ids(span: Span) -> List[str]:
    mention = _mention_of(span)
    return list(mention["ids"]) if mention else []


def _link_score(span: Span) -> Optional[float]:
    mention = _mention_of(span)
    return mention["link_score"] if mention else None


def _register_extensions() -> None:
    # values live in doc.user_data (keyed by the span's characters), so Docs serialise with them (DocBin with
    # store_user_data); concept_ids and link_score read the stored mention rather than copying it
    for obj, name, kwargs in (
        (Span, "mention", {"default": None}),
        (Span, "entity_ids", {"default": None}),
        (Span, "concept_ids", {"getter": _concept_ids}),
        (Span, "link_score", {"getter": _link_score}),
        (Doc, "relations", {"default": None}),
        (Doc, "unaligned_mentions", {"default": None}),
    ):
        if not obj.has_extension(name):
            obj.set_extension(name, **kwargs)


_register_extensions()


class BiomedNerRe:
    """The spaCy component: `__call__` one Doc, `pipe` a stream of them; the model is loaded on first use."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        model: str,
        batch_size: int = 8,
        threshold: Optional[float] = None,
        overwrite_ents: bool = False,
        alignment_mode: str = "expand",
        spans_key: str = FACTORY,
        device: Optional[str] = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InputError(f"{name}: config 'model' must be a model folder or a Hub id, got {model!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"{name}: config 'batch_size' must be an int >= 1, got {batch_size!r}")
        if threshold is not None:
            probability_to_margin(threshold)  # InputError unless a probability
        if alignment_mode not in ALIGNMENT_MODES:
            raise InputError(f"{name}: config 'alignment_mode' must be one of {ALIGNMENT_MODES}, got {alignment_mode!r}")
        self.name, self.model_name, self.batch_size, self.threshold = name, model, batch_size, threshold
        self.overwrite_ents, self.alignment_mode, self.spans_key, self.device = (
            overwrite_ents, alignment_mode, spans_key, device)
        self._loaded: Optional[Tuple[Any, Any]] = None

    # ---- the model ---------------------------------------------------------------------------------------
    def _load(self, name_or_path: str) -> Tuple[Any, Any]:
        import torch

        from biomed_nerre.prediction.runner import load_model

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            return load_model(name_or_path, device)
        except OSError as error:  # neither a model folder nor a Hub model that could be reached
            first_line = (str(error).strip() or type(error).__name__).splitlines()[0]
            raise InputError(f"{self.name}: cannot load model {name_or_path!r}: {first_line}") from error

    @property
    def model_and_tokenizer(self) -> Tuple[Any, Any]:
        """The model (eval mode, on `device`) and its tokenizer, loaded on first use."""
        if self._loaded is None:
            self._loaded = self._load(self.model_name)
        return self._loaded

    # ---- processing ----------------------------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        """Run the model on one Doc and set its annotations."""
        return self._process([doc])[0]

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Run the model on `batch_size` Docs at a time (`nlp.pipe`'s batch size); within each group the model
        reads `self.batch_size` texts per forward pass, sorted by length as `extract` does."""
        for docs in minibatch(stream, size=batch_size):
            yield from self._process(list(docs))

    def _process(self, docs: Sequence[Doc]) -> Sequence[Doc]:
        model, tokenizer = self.model_and_tokenizer
        results = model.extract([doc.text for doc in docs], tokenizer, batch_size=self.batch_size,
                                threshold=self.threshold)
        for doc, result in zip(docs, results):
            self.set_annotations(doc, to_document_result(result))
        return docs

    def set_annotations(self, doc: Doc, result: DocumentResult) -> None:
        """Map one `DocumentResult` (whose offsets index `doc.text`) onto `doc` (see the module docstring)."""
        entity_ids: List[List[str]] = [[] for _ in result["mentions"]]
        for entity in result["entities"]:
            for index in entity["mention_indices"]:
                entity_ids[index].append(entity["id"])
        spans, unaligned, taken = [], [], set()
        for mention, ids in zip(result["mentions"], entity_ids):
            span = doc.char_span(mention["start"], mention["end"], label=mention["type"],
                                 kb_id=mention["ids"][0] if mention["ids"] else "", alignment_mode=self.alignment_mode)
            # extension values are keyed by the span's characters: two mentions on the same tokens cannot both
            # be spans, so the later one is listed with the unaligned ones
            if span is None or (span.start, span.end) in taken:
                unaligned.append({**mention, "entity_ids": ids})
                continue
            taken.add((span.start, span.end))
            span._.mention = mention
            span._.entity_ids = ids
            spans.append(span)
        doc.spans[self.spans_key] = spans
        doc._.unaligned_mentions = unaligned
        doc._.relations = list(result["relations"])
        doc.ents = self._entities(doc, spans)

    def _entities(self, doc: Doc, spans: Sequence[Span]) -> List[Span]:
        """`doc.ents` with `spans` added as spaCy's EntityRuler adds its matches: a span on a token of an existing
        entity is left out (or, with overwrite_ents, that entity is), and so is a span sharing a token with an
        earlier span."""
        occupied: set = set()
        added = []
        for span in spans:
            tokens = range(span.start, span.end)
            if any(t in occupied for t in tokens):
                continue
            if not self.overwrite_ents and any(doc[t].ent_type for t in tokens):
                continue
            added.append(span)
            occupied.update(tokens)
        kept = [e for e in doc.ents if not any(t in occupied for t in range(e.start, e.end))]
        return sorted(kept + added, key=lambda span: span.start)

    # ---- serialisation ---------------------------------------------------------------------------------------
    def to_disk(self, path: Any, *, exclude: Iterable[str] = ()) -> None:
        """Save a copy of the model (`save_pretrained`: weights, code, linker, gazetteer; and the tokenizer) in
        `path/model`, written next to it first and then moved in, so a pipeline saved over the folder it was
        loaded from keeps a whole copy."""
        model, tokenizer = self.model_and_tokenizer
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        target, partial = path / MODEL_FOLDER, path / f"{MODEL_FOLDER}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)

    def from_disk(self, path: Any, *, exclude: Iterable[str] = ()) -> "BiomedNerRe":
        """Load the copy `to_disk` saved; without one (saved with the component excluded), the model named by the
        config loads on first use."""
        folder = Path(path) / MODEL_FOLDER
        if folder.is_dir():
            self._loaded = self._load(str(folder))
        return self


@Language.factory(
    FACTORY,
    default_config={"batch_size": 8, "threshold": None, "overwrite_ents": False, "alignment_mode": "expand",
                    "spans_key": FACTORY, "device": None},
    assigns=["doc.ents", "doc.spans", "token.ent_iob", "token.ent_type", "token.ent_kb_id", "span._.mention",
             "span._.entity_ids", "doc._.relations", "doc._.unaligned_mentions"],
)
def make_component(
    nlp: Language,
    name: str,
    model: str,
    batch_size: int,
    threshold: Optional[float],
    overwrite_ents: bool,
    alignment_mode: str,
    spans_key: str,
    device: Optional[str],
) -> BiomedNerRe:
    """The `biomed_nerre` factory: `model` (required) a model folder or Hub id; `batch_size` texts per forward
    pass; `threshold` a relation probability (None: the model's calibrated one); `overwrite_ents` whether its
    entities replace overlapping ones set earlier; `alignment_mode` how mentions map to tokens ("expand",
    "contract", "strict"); `spans_key` the `doc.spans` key; `device` ("cpu", "cuda", ...; None: a GPU if any)."""
    return BiomedNerRe(nlp, name, model, batch_size=batch_size, threshold=threshold, overwrite_ents=overwrite_ents,
                       alignment_mode=alignment_mode, spans_key=spans_key, device=device)
