"""Word tokenizer, overlap rule and BIO encoding/decoding (loaders.words)."""

from __future__ import annotations

from loaders.words import bio_tags, select_non_overlapping, spans_from_bio, tokenize_words


def mention(text: str, surface: str, entity_type: str, occurrence: int = 0) -> dict:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(surface, start + 1)
    return {"start": start, "end": start + len(surface), "text": surface, "type": entity_type}


def test_tokenize_words_regex_and_forced_splits():
    text = "Terbutaline-induced 5-HT2A  desensitization."
    words = [text[s:e] for s, e in tokenize_words(text)]
    assert words == ["Terbutaline", "-", "induced", "5", "-", "HT2A", "desensitization", "."]
    # a boundary inside a word splits it; boundaries at token edges or in spaces change nothing
    split = [text[s:e] for s, e in tokenize_words(text, split_at=[2, 11, 26, 27, 35])]
    assert split == ["Te", "rbutaline", "-", "induced", "5", "-", "HT2A", "desensi", "tization", "."]


def test_overlap_rule_keeps_longest_then_earliest():
    text = "acute and chronic pain in lung cancer cells"
    mentions = [
        mention(text, "chronic pain", "Disease"),  # 0: inside the longer composite mention 1
        mention(text, "acute and chronic pain", "Disease"),  # 1: longest: kept
        mention(text, "lung cancer", "Disease"),  # 2: same length as 3, earlier start: kept
        mention(text, "cancer cell", "Chemical"),  # 3: overlaps 2 and starts later: dropped
        mention(text, "pain", "Disease"),  # 4: inside 1
    ]
    assert mentions[2]["end"] - mentions[2]["start"] == mentions[3]["end"] - mentions[3]["start"]
    kept, dropped = select_non_overlapping(mentions)
    assert (kept, dropped) == ([1, 2], [0, 3, 4])
    # equal length and start: file order decides
    twins = [mention(text, "lung", "Chemical"), mention(text, "lung", "Disease")]
    assert select_non_overlapping(twins) == ([0], [1])


def test_bio_tags_round_trip_and_dropped_mentions():
    text = "Naloxone-induced hypotension; [3H]-naloxone binding and tachycardias."
    mentions = [
        mention(text, "Naloxone", "Chemical"),
        mention(text, "hypotension", "Disease"),
        mention(text, "[3H]-naloxone", "Chemical"),
        mention(text, "naloxone", "Chemical", 0),  # overlaps the longer [3H]-naloxone: dropped
        mention(text, "tachycardia", "Disease"),  # ends inside the word "tachycardias": token gets split
        {"start": 28, "end": 30, "text": "; ", "type": "Chemical"},  # ends on a space: not encodable
    ]
    assert text[28:30] == "; "
    tokens, tags, dropped = bio_tags(text, mentions)
    assert dropped == [3, 5]
    words = [text[s:e] for s, e in tokens]
    assert list(zip(words, tags))[:6] == [
        ("Naloxone", "B-Chemical"), ("-", "O"), ("induced", "O"), ("hypotension", "B-Disease"), (";", "O"),
        ("[", "B-Chemical"),
    ]
    assert ("tachycardia", "B-Disease") in zip(words, tags) and ("s", "O") in zip(words, tags)
    kept = [mentions[i] for i in (0, 1, 2, 4)]
    assert spans_from_bio(tokens, tags) == [(m["start"], m["end"], m["type"]) for m in kept]


def test_spans_from_bio_adjacent_and_stray_inside_tags():
    tokens = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)]
    tags = ["B-Chemical", "I-Chemical", "B-Chemical", "I-Disease", "O", "I-Gene"]
    assert spans_from_bio(tokens, tags) == [(0, 3, "Chemical"), (4, 5, "Chemical"), (6, 7, "Disease"), (10, 11, "Gene")]
