"""What the demo shows of one `extract` result: input checks, the highlighted text with its legend and
entity links, the relations table filtered by score, and the JSON / PubTator downloads.

Pure functions of the text and the result (no gradio, no torch), so the Space's page and the tests share them.
The result is a `DocumentResult` (the result contract, `modeling.outputs_joint_ner_re`), what
`SciBertForJointNerRe.extract` returns in end2end mode; results of models saved by older code are coerced to it
with `to_document_result`.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from typing import Any, Mapping, Sequence

from biomed_nerre.prediction.corpus_ids import pubtator_document
from loaders.pubtator import format_document
from modeling.outputs_joint_ner_re import DocumentResult, InputError, to_document_result

MAX_CHARS = 20_000
ALLOWED_CONTROLS = "\n\r\t"
TYPE_COLOURS = {"Chemical": "#cde8ff", "Disease": "#ffd9c2", "Gene": "#d5f5d0"}
OTHER_COLOURS = ("#efd9ff", "#fff3b0", "#d9f0f0")
RELATION_COLUMNS = ["head", "tail", "label", "score"]
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>")


def check_text(text: Any, max_chars: int = MAX_CHARS) -> tuple[str, list[str]]:
    """The text to analyse (line breaks as "\\n") and notes about it, or InputError with a clear message.

    HTML is not interpreted: tags are analysed and shown as the characters they are (a note says so).
    """
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputError(f"expected text, got {type(text).__name__}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError("the text is empty: paste a title and abstract, or pick an example")
    if len(text) > max_chars:
        raise InputError(
            f"the text has {len(text):,} characters; this demo analyses up to {max_chars:,} (a few abstracts). "
            "For longer documents run the model with `model.extract` or the pipeline, which windows any length."
        )
    for position, char in enumerate(text):
        if unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS:
            line = text.count("\n", 0, position) + 1
            raise InputError(
                f"the text contains the control character U+{ord(char):04X} at character {position + 1} "
                f"(line {line}); remove it (it often comes from copying out of a PDF) and submit again"
            )
    notes = []
    if _TAG.search(text):
        notes.append("The text contains HTML tags; they are analysed and shown as plain text, not rendered.")
    return text, notes


def model_text(text: str) -> str:
    """The string given to the model: line breaks and tabs as spaces (same length, so offsets are shared)."""
    return text.replace("\n", " ").replace("\t", " ")


def split_title(text: str) -> tuple[str, str]:
    """(title, abstract): the first line and the rest, so that `document_text(title, abstract) == model_text(text)`
    whenever the text has a line break (without one, the whole text is the title)."""
    flat = model_text(text)
    cut = text.find("\n")
    if cut < 0:
        return flat, ""
    return flat[:cut], flat[cut + 1 :]


# ---- ids and links ------------------------------------------------------------------------------------------
def id_url(curie: str) -> str | None:
    """The public page of a concept id: MeSH (descriptors D..., supplementary C...), NCBI Gene or OMIM; None
    for NIL and per-document ids ("E0", "NIL:...")."""
    prefix, _, local = curie.partition(":")
    if not local:
        prefix, local = "", curie
    if prefix.upper() in ("MESH", "") and re.fullmatch(r"[CD]\d{6,9}", local):
        return f"https://meshb.nlm.nih.gov/record/ui?ui={local}"
    if prefix == "NCBIGene" and re.fullmatch(r"\d+", local):
        return f"https://www.ncbi.nlm.nih.gov/gene/{local}"
    if prefix == "OMIM" and re.fullmatch(r"\d+", local):
        return f"https://omim.org/entry/{local}"
    return None


def is_linked(entity_id: str) -> bool:
    """True for a concept id (a CURIE the linker gave), False for NIL and per-document ids."""
    return id_url(entity_id) is not None


def id_link(curie: str) -> str:
    """HTML: the id as a link to its page, or the id as text."""
    url = id_url(curie)
    label = html.escape(curie)
    if url is None:
        return f'<span class="nil-id">{label}</span>'
    return f'<a class="id-link" href="{html.escape(url)}" target="_blank" rel="noopener">{label}</a>'


def _md_link(curie: str) -> str:
    url = id_url(curie)
    return f"[{curie}]({url})" if url else f"`{curie}`"


# ---- relations -------------------------------------------------------------------------------------------------
def filter_relations(result: Mapping[str, Any], min_score: float) -> list[dict[str, Any]]:
    """Relations scoring above `min_score` (the rule extract applies to its margin), best first."""
    kept = [dict(r) for r in result.get("relations", []) if r["score"] > min_score]
    return sorted(kept, key=lambda r: (-r["score"], r["label"], r["head"], r["tail"]))


def entity_names(result: Mapping[str, Any]) -> dict[str, str]:
    """Entity id -> the text of its first mention."""
    mentions = result.get("mentions", [])
    return {e["id"]: mentions[e["mention_indices"][0]]["text"] if e["mention_indices"] else e["id"]
            for e in result.get("entities", [])}


def relation_rows(result: Mapping[str, Any], min_score: float) -> list[list[Any]]:
    """Table rows [head, tail, label, score]; head and tail are Markdown "**name** · type · id link"."""
    names = entity_names(result)
    types = {e["id"]: e["type"] for e in result.get("entities", [])}

    def cell(entity_id: str) -> str:
        name = names.get(entity_id, entity_id).replace("|", "/").replace("*", "\\*")
        return f"**{name}** · {types.get(entity_id, '?')} · {_md_link(entity_id)}"

    return [[cell(r["head"]), cell(r["tail"]), r["label"], round(float(r["score"]), 3)]
            for r in filter_relations(result, min_score)]


# ---- highlighted text ----------------------------------------------------------------------------------------
def type_colours(entity_types: Sequence[str]) -> dict[str, str]:
    """A background colour per entity type (the three corpus types fixed, others from a small palette)."""
    colours, others = {}, iter(OTHER_COLOURS * 4)
    for entity_type in entity_types:
        colours[entity_type] = TYPE_COLOURS.get(entity_type) or next(others)
    return colours


def _mention_entities(result: Mapping[str, Any]) -> dict[int, list[str]]:
    held: dict[int, list[str]] = {}
    for entity in result.get("entities", []):
        for index in entity["mention_indices"]:
            held.setdefault(int(index), []).append(entity["id"])
    return held


def mention_ids(result: Mapping[str, Any], index: int) -> list[str]:
    """The concept ids of mention `index`: its own "ids" (linker), else the linked ids of its entities."""
    mention = result["mentions"][index]
    if mention.get("ids"):
        return list(mention["ids"])
    return [i for i in _mention_entities(result).get(index, []) if is_linked(i)]


def _text_html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def highlighted_html(text: str, result: Mapping[str, Any], entity_types: Sequence[str]) -> str:
    """HTML of the text with each mention marked in its type's colour (a link when it has a concept id),
    a legend of the types, and a table of the entities with their id links."""
    colours = type_colours(list(entity_types) + [m["type"] for m in result.get("mentions", [])])
    held = _mention_entities(result)
    parts, cursor = [], 0
    order = sorted(range(len(result.get("mentions", []))), key=lambda k: (result["mentions"][k]["start"], k))
    for k in order:
        mention = result["mentions"][k]
        start, end = int(mention["start"]), int(mention["end"])
        if start < cursor:  # overlapping spans: the entity table below still lists it
            continue
        parts.append(_text_html(text[cursor:start]))
        ids = mention_ids(result, k)
        shown_id = ids[0] if ids else (held.get(k) or ["NIL"])[0]
        title = f"{mention['type']}: {', '.join(ids) if ids else 'no concept id (NIL)'}"
        if "link_score" in mention and ids:
            title += f" (link score {float(mention['link_score']):.2f})"
        body = _text_html(text[start:end])
        url = id_url(ids[0]) if ids else None
        if url:
            body = f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{body}</a>'
        parts.append(
            f'<mark class="mention" data-type="{html.escape(mention["type"])}" data-id="{html.escape(shown_id)}" '
            f'title="{html.escape(title)}" style="background:{colours[mention["type"]]}">{body}'
            f'<span class="mention-type">{html.escape(mention["type"])}</span></mark>'
        )
        cursor = end
    parts.append(_text_html(text[cursor:]))
    legend = "".join(
        f'<span class="legend-item" style="background:{colour}">{html.escape(t)}</span>' for t, colour in colours.items()
    )
    return (
        f'<div class="legend">Entity types: {legend}</div>'
        f'<div class="highlighted">{"".join(parts)}</div>'
        f"{entities_html(result, colours)}"
    )


def entities_html(result: Mapping[str, Any], colours: Mapping[str, str]) -> str:
    """HTML table of the document's entities: id (a link to MeSH / NCBI Gene when linked), type, name, mentions."""
    entities = result.get("entities", [])
    if not entities:
        return '<p class="no-entities">No entity mentions found.</p>'
    names = entity_names(result)
    rows = "".join(
        f'<tr><td>{id_link(e["id"])}</td><td><span class="legend-item" style="background:{colours.get(e["type"], "#eee")}">'
        f'{html.escape(e["type"])}</span></td><td>{html.escape(names[e["id"]])}</td>'
        f'<td>{len(e["mention_indices"])}</td></tr>'
        for e in entities
    )
    return (f'<table class="entities"><thead><tr><th>id</th><th>type</th><th>name</th><th>mentions</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


# ---- downloads -----------------------------------------------------------------------------------------------
def filtered_result(result: Mapping[str, Any], min_score: float) -> DocumentResult:
    """The result with only the relations scoring above `min_score`: what `extract(..., threshold=min_score)`
    returns for the same text."""
    kept = to_document_result(result)
    kept["relations"] = [r for r in kept["relations"] if r["score"] > min_score]
    return kept


def result_json(text: str, result: Mapping[str, Any], min_score: float, model_name: str) -> str:
    """The download: the model, the threshold, the text with its title / abstract split, and under `result` the
    `DocumentResult` with the relations above `min_score`."""
    title, abstract = split_title(text)
    payload = {
        "model": model_name,
        "relation_min_score": min_score,
        "title": title,
        "abstract": abstract,
        "text": model_text(text),
        "result": filtered_result(result, min_score),
    }
    return json.dumps(payload, indent=1, ensure_ascii=False) + "\n"


def pubtator(text: str, result: Mapping[str, Any], min_score: float, pmid: str = "0") -> str:
    """PubTator text (the project's one writer): title and abstract lines (the first line of the input and the
    rest), one line per mention (its concept ids, -1 when it has none) and one per relation above `min_score`
    between concept ids."""
    title, abstract = split_title(text)
    kept = {**filtered_result(result, min_score), "pmid": pmid}
    return format_document(pubtator_document(pmid, title, abstract, kept, "bc5cdr"))
