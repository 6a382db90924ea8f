"""`JointNerRePipeline`: the transformers pipeline of `SciBertForJointNerRe` (task "joint-ner-re").

Imports only the standard library, torch and transformers: this file is copied next to `config.json`, whose
`custom_pipelines` entry names it, so `pipeline(model=folder_or_repo, trust_remote_code=True)` finds the task
and this class from the folder alone. All the work is `model.extract`; the pipeline only normalises inputs
and batches.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from transformers import Pipeline

from .outputs_joint_ner_re import DocumentResult, InputError, input_document, probability_to_margin


class JointNerRePipeline(Pipeline):
    """Mentions (character offsets), entities (ids) and relations (scores) for texts or documents.

    `pipe("text")` or `pipe({"pmid", "title", "abstract"})` returns one result; a list returns a list; any
    other iterable (a generator, a `datasets.Dataset`) yields results lazily, `batch_size` documents at a
    time. Each result is what `SciBertForJointNerRe.extract` returns, a `DocumentResult`:
    `{"pmid", "mentions": [{"start", "end", "text", "type", "ids", "link_score"}], "entities": [{"id", "type",
    "mention_indices"}], "relations": [{"label", "head", "tail", "score"}]}`.

    Call arguments: `batch_size` (documents per encoder batch, default 8), `threshold` (a probability: relations
    scoring above it are returned; default the model's calibrated `config.relation_threshold`).
    """

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # transformers' pipeline() turns the "pt" class names of the config's custom_pipelines into classes in
        # place; put the names back so that the model's config stays JSON-serialisable (save_pretrained).
        custom = getattr(self.model.config, "custom_pipelines", None)
        if isinstance(custom, dict):
            for info in custom.values():
                if isinstance(info, dict) and isinstance(info.get("pt"), (tuple, list)):
                    info["pt"] = [c if isinstance(c, str) else c.__name__ for c in info["pt"]]

    def _sanitize_parameters(
        self, batch_size: int | None = None, threshold: float | None = None, **kwargs: Any
    ) -> tuple[dict, dict, dict]:
        if kwargs:
            raise InputError(f"unexpected argument(s) {sorted(kwargs)}; the pipeline takes batch_size and threshold")
        forward: dict[str, Any] = {}
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                raise InputError(f"batch_size is the number of documents per batch, an int >= 1; got {batch_size!r}")
            forward["batch_size"] = batch_size
        if threshold is not None:
            probability_to_margin(threshold)  # InputError unless a probability between 0 and 1
            forward["threshold"] = float(threshold)
        return {}, forward, {}

    # The Pipeline protocol, one document at a time (used by `Pipeline.run_single`).
    def preprocess(self, inputs: str | Mapping[str, Any], **params: Any) -> dict[str, Any]:
        return input_document(inputs, 0)

    def _forward(self, document: dict[str, Any], batch_size: int = 8, threshold: float | None = None) -> DocumentResult:
        return self.model.extract([document], self.tokenizer, mode="end2end", batch_size=batch_size, threshold=threshold)[0]

    def postprocess(self, result: dict[str, Any], **params: Any) -> dict[str, Any]:
        return result

    def __call__(self, inputs: Any, batch_size: int | None = None, threshold: float | None = None, **kwargs: Any) -> Any:
        """Results for one input, a list of inputs, or (lazily) any other iterable of inputs."""
        _, forward, _ = self._sanitize_parameters(batch_size=batch_size, threshold=threshold, **kwargs)
        forward = {**self._forward_params, **forward}
        if isinstance(inputs, (str, Mapping)):
            return self._extract([input_document(inputs, 0)], forward)[0]
        if isinstance(inputs, (list, tuple)):
            return self._extract([input_document(item, i) for i, item in enumerate(inputs)], forward)
        if inputs is None or isinstance(inputs, (bytes, bytearray)) or not hasattr(inputs, "__iter__"):
            input_document(inputs, 0)  # raises InputError saying what is accepted
        return self._iterate(inputs, forward)

    def _extract(self, documents: list[dict[str, Any]], forward: Mapping[str, Any]) -> list[DocumentResult]:
        if not documents:
            return []
        return self.model.extract(documents, self.tokenizer, mode="end2end", **forward)

    def _iterate(self, inputs: Iterable[Any], forward: Mapping[str, Any]) -> Iterator[DocumentResult]:
        group = max(1, int(forward.get("batch_size", 8)))
        pending: list[dict[str, Any]] = []
        for i, item in enumerate(inputs):
            pending.append(input_document(item, i))
            if len(pending) == group:
                yield from self._extract(pending, forward)
                pending = []
        yield from self._extract(pending, forward)
