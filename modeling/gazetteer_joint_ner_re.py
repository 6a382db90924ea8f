"""Dictionary (gazetteer) matches as a token feature: which tokens of a text lie in a name of a public vocabulary.

`Gazetteer.token_tags(text, offsets)` finds, for each entity type on its own, the longest vocabulary names in
the text (leftmost first, whole words, compared by the linker's `name_key`) and tags every token B (first token
of a match), I (inside) or O; the model embeds the tags of all types as one id per token (`tag_id`). The names
come from the vocabularies only (MeSH, CTD MEDIC, HGNC), never from the training corpus: a dictionary holding the
training mentions would match every one of them in training and teach the model to trust it more than it should.

Saved as `gazetteer/` next to the weights (`names.tsv.gz`: type TAB key, sorted, and `gazetteer_config.json`).
Imports only the standard library and the sibling linking file (`trust_remote_code` ships them together).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .files_joint_ner_re import config_value, read_gzip, read_json
from .linking_joint_ner_re import NORMALISATION_VERSION, name_key
from .outputs_joint_ner_re import InputError

GAZETTEER_FOLDER = "gazetteer"
CONFIG_FILE = "gazetteer_config.json"
NAMES_FILE = "names.tsv.gz"
FORMAT_VERSION = 1
MAX_WORDS = 8  # longer names are rare and would make each lookup slower
MIN_KEY_CHARS = 3  # two-letter keys ("no", "as", "ca") match ordinary words far more often than names
TAGS_PER_TYPE = 3  # O, B, I
_WORD = re.compile(r"[^\W_]+")


def num_tag_ids(num_types: int) -> int:
    """How many token ids `tag_id` can give over `num_types` entity types."""
    return TAGS_PER_TYPE ** num_types


def tag_id(tags: Sequence[int]) -> int:
    """One id for a token's tags over the types (each 0 O, 1 B, 2 I): the tags read as a base-3 number."""
    value = 0
    for tag in reversed(tags):
        value = value * TAGS_PER_TYPE + tag
    return value


@dataclass
class Gazetteer:
    """Name keys per entity type (`names[type]`), in the model's entity type order (`entity_types`)."""

    entity_types: list[str]
    names: dict[str, frozenset[str]]
    metadata: dict[str, Any] = field(default_factory=dict)
    max_words: int = MAX_WORDS

    @classmethod
    def from_names(cls, names: Iterable[tuple[str, str]], entity_types: Sequence[str],
                   metadata: Mapping[str, Any] | None = None) -> "Gazetteer":
        """From (entity type, name) pairs; names are keyed by `name_key`, and keys shorter than
        `MIN_KEY_CHARS` or longer than `MAX_WORDS` words are left out. Types not in `entity_types` are skipped."""
        keys: dict[str, set[str]] = {t: set() for t in entity_types}
        for entity_type, name in names:
            if entity_type not in keys:
                continue
            key = name_key(name)
            if len(key) >= MIN_KEY_CHARS and key.count(" ") < MAX_WORDS:
                keys[entity_type].add(key)
        return cls(list(entity_types), {t: frozenset(k) for t, k in keys.items()}, dict(metadata or {}))

    @staticmethod
    def words(text: str) -> list[tuple[int, int, str]]:
        """(start, end, `name_key`) of every word of `text`: what `matches` compares, made once per text."""
        return [(m.start(), m.end(), name_key(m.group())) for m in _WORD.finditer(text)]

    def matches(self, text: str, entity_type: str,
                words: Sequence[tuple[int, int, str]] | None = None) -> list[tuple[int, int]]:
        """Character spans of the longest names of `entity_type` in `text`, leftmost first, not overlapping
        (`words`: the text's `words`, when the caller has them already)."""
        table = self.names.get(entity_type)
        if not table:
            return []
        if words is None:
            words = self.words(text)
        # the words' keys joined by single spaces once: the key of words i..j is then one slice of it
        joined = " ".join(w[2] for w in words)
        starts, position = [], 0
        for w in words:
            starts.append(position)
            position += len(w[2]) + 1
        spans, i = [], 0
        while i < len(words):
            for size in range(min(self.max_words, len(words) - i), 0, -1):
                last = i + size - 1
                if joined[starts[i] : starts[last] + len(words[last][2])] in table:
                    spans.append((words[i][0], words[last][1]))
                    i += size
                    break
            else:
                i += 1
        return spans

    def token_tags(self, text: str, offsets: Sequence[Sequence[int]]) -> list[int]:
        """One `tag_id` per token (`offsets`: character spans of the tokens)."""
        per_type = []
        words = self.words(text)  # shared by the types
        for entity_type in self.entity_types:
            tags = [0] * len(offsets)
            spans = self.matches(text, entity_type, words)
            j = 0
            for i, (start, end) in enumerate(offsets):
                while j < len(spans) and spans[j][1] <= start:
                    j += 1
                if j < len(spans) and spans[j][0] <= start and end <= spans[j][1] and end > start:
                    tags[i] = 1 if start == spans[j][0] else 2
            per_type.append(tags)
        return [tag_id(column) for column in zip(*per_type)] if per_type else [0] * len(offsets)

    # ---- files ---------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        """Write `names.tsv.gz` (sorted; byte-identical for the same names) and `gazetteer_config.json`."""
        os.makedirs(folder, exist_ok=True)
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
            for entity_type in self.entity_types:
                for key in sorted(self.names[entity_type]):
                    handle.write(f"{entity_type}\t{key}\n".encode("utf-8"))
        with open(os.path.join(folder, NAMES_FILE), "wb") as handle:
            handle.write(buffer.getvalue())
        config = {
            "format_version": FORMAT_VERSION, "normalisation_version": NORMALISATION_VERSION,
            "entity_types": self.entity_types, "names": {t: len(self.names[t]) for t in self.entity_types},
            "max_words": self.max_words, "min_key_chars": MIN_KEY_CHARS, **self.metadata,
        }
        with open(os.path.join(folder, CONFIG_FILE), "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2, sort_keys=True)
            handle.write("\n")

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "Gazetteer":
        """Read a saved `gazetteer/` folder; `InputError` naming the file (and line) for a damaged or malformed one:
        a names file cut short (its writer ends every line with a line break, and the config counts the names of
        each type) as much as a bad line."""
        config_path = os.path.join(folder, CONFIG_FILE)
        config = read_json(config_path)
        for key, expected in (("format_version", FORMAT_VERSION), ("normalisation_version", NORMALISATION_VERSION)):
            if config.get(key) != expected:
                raise InputError(f"{config_path}: {key} {config.get(key)!r}, this code reads {expected}")
        entity_types = list(config_value(config, "entity_types", list, config_path))
        keys: dict[str, set[str]] = {t: set() for t in entity_types}
        names_path = os.path.join(folder, NAMES_FILE)
        lines = read_gzip(names_path).split(b"\n")
        if lines[-1]:
            raise InputError(f"{names_path}, line {len(lines)}: the file ends inside this line: it was cut short")
        for number, raw in enumerate(lines[:-1], 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(f"{names_path}, line {number}: not UTF-8 (byte {error.start + 1})") from None
            entity_type, sep, key = line.partition("\t")
            if not sep or entity_type not in keys or not key:
                raise InputError(f"{names_path}, line {number}: expected '<type>\\t<name key>' with a type of "
                                 f"{entity_types}, got {line.rstrip()!r}")
            keys[entity_type].add(key)
        counted = config.get("names")
        for entity_type, count in (counted.items() if isinstance(counted, dict) else ()):
            if len(keys.get(entity_type, ())) != count:
                raise InputError(f"{names_path}: {len(keys.get(entity_type, ())):,} {entity_type} names where "
                                 f"{config_path} counts {count:,}: the file is incomplete or from another gazetteer")
        metadata = {k: v for k, v in config.items() if k not in ("format_version", "normalisation_version",
                                                                  "entity_types", "names", "max_words", "min_key_chars")}
        return cls(entity_types, {t: frozenset(k) for t, k in keys.items()}, metadata, int(config.get("max_words", MAX_WORDS)))
