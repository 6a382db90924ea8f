"""BioC in and out (issues 32 and 28, part 2).

- BC5CDR's own BioC layout: predict.py's BioC XML of the whole BC5CDR test set and its PubTator output of the same
  predictions hold the same (PMID, type, id), (PMID, chemical, disease) and mention sets, so the official
  evaluation gives the same figures in BioC and PubTator mode; the gold written in the corpus's BioC layout
  agrees with the gold PubTator release; BioC in -> predict.py -> BioC out keeps passages, offsets and ids.
- Full-text articles: a PMC-shaped BioC article (sections, a table, references, offsets with gaps) in, BioC out,
  read back by the `bioc` package, every annotation inside its passage, references never tagged, tables only
  without --skip-tables; `extract`, the pipeline and predict.py give the same result for it.

The model is the tiny random one of tests/predict_model.py with a linker built from the BC5CDR training split's
names (never the test split's), so that predictions carry MeSH ids.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import bioc
from bioc import biocjson, biocxml
from biomed_nerre.evaluation.bc5cdr_eval import read_file, score_files
from biomed_nerre.evaluation.writers import gold_results, write_bioc
from biomed_nerre.linking import corpus_names
from biomed_nerre.prediction.bioc_layout import annotation_concepts, annotation_infons, relation_concepts
from biomed_nerre.prediction.cli import report
from biomed_nerre.prediction.readers import Columns, read_inputs
from biomed_nerre.prediction.runner import RunSettings, Summary
from biomed_nerre.prediction.writers import bioc_document
from loaders import load_corpus
from loaders.pubtator import iter_pubtator
from modeling.linking_joint_ner_re import ConceptLinker
from modeling.outputs_joint_ner_re import InputError, input_document, passages_text
from tests.predict_model import write_tiny_model
from tests.test_predict import predict_here, read_jsonl, rounded

ROOT = Path(__file__).resolve().parents[1]
BC5CDR = ROOT.parent / "shared" / "data" / "bc5cdr"
TYPES = ["Chemical", "Disease"]


@pytest.fixture(scope="module")
def model_dir(encoder, tmp_path_factory) -> Path:
    folder = write_tiny_model(encoder, tmp_path_factory.mktemp("bioc") / "model")
    training = [{"pmid": d.pmid, "text": d.text, "mentions": [
        {"start": m.start, "end": m.end, "text": m.text, "type": m.type, "ids": m.ids,
         "composite_parts": m.composite_parts} for m in d.mentions]}
        for d in iter_pubtator(BC5CDR / "CDR_TrainingSet.PubTator.txt", TYPES, ["CID"])]
    # every training name under both types: the random NER head gives mentions either type, and they should link
    rows = [replace(row, entity_type=t) for row in corpus_names(training) for t in TYPES]
    ConceptLinker.from_names(rows, entity_types=TYPES).save(folder / "linker")
    return folder


def collection_of(path: Path) -> bioc.BioCCollection:
    if path.name.endswith(".xml"):
        with open(path, encoding="utf-8") as handle:
            return biocxml.load(handle)
    with open(path, encoding="utf-8") as handle:
        return biocjson.load(handle)


def passages_of(collection: bioc.BioCCollection) -> list:
    return [(d.id, [(p.offset, p.text, dict(p.infons)) for p in d.passages]) for d in collection.documents]


# ---- issue 32: the BC5CDR test set in the corpus's BioC layout ----------------------------------------------
@pytest.fixture(scope="module")
def test_set_predictions(model_dir, tmp_path_factory) -> dict[str, Path]:
    """predict.py over the BC5CDR test set as BioC XML (the default layout for a Chemical/Disease model), then
    that BioC file as input -> PubTator and -> BioC again; and the gold in the corpus's BioC layout."""
    tmp = tmp_path_factory.mktemp("test_set")
    files = {"xml": tmp / "pred.xml", "pubtator": tmp / "pred.pubtator", "again": tmp / "again.xml"}
    predict_here("--model", str(model_dir), "--input", str(BC5CDR / "CDR_TestSet.PubTator.txt"), "--output",
                 str(files["xml"]), "--batch-size", "16")
    predict_here("--model", str(model_dir), "--input", str(files["xml"]), "--output", str(files["pubtator"]),
                 "--batch-size", "16")
    first = collection_of(files["xml"])  # BioC -> BioC on the first 100 documents: the round trip, in less time
    first.documents = first.documents[:100]
    files["first"] = tmp / "first.xml"
    with open(files["first"], "w", encoding="utf-8") as handle:
        biocxml.dump(first, handle)
    predict_here("--model", str(model_dir), "--input", str(files["first"]), "--output", str(files["again"]),
                 "--batch-size", "16")
    documents = [dict(d) for d in load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR),
                                              cache_dir=str(tmp / "cache"))["test"]]
    files["gold"] = write_bioc(tmp / "CDR_TestSet.BioC.xml", documents, gold_results(documents))
    return files


def test_gold_in_the_corpus_bioc_layout_agrees_with_the_gold_pubtator(test_set_predictions):
    gold_bioc, gold_pubtator = read_file(test_set_predictions["gold"]), read_file(BC5CDR / "CDR_TestSet.PubTator.txt")
    assert gold_bioc == gold_pubtator
    assert sum(map(len, gold_bioc.relations.values())) == 1066  # the test set's CID pairs (shared/data/README.md)
    assert sum(map(len, gold_bioc.mentions.values())) == 5385 + 4424
    text = test_set_predictions["gold"].read_text(encoding="utf-8")
    assert '<infon key="MESH">D' in text and "MESH:" not in text and '<infon key="MESH">-1</infon>' in text
    assert '<infon key="CompositeRole">CompositeMention</infon>' in text  # 57 composite mentions in the test set


def test_bioc_and_pubtator_predictions_give_the_official_measures_the_same_figures(test_set_predictions):
    bioc_file, pubtator_file = read_file(test_set_predictions["xml"]), read_file(test_set_predictions["pubtator"])
    assert bioc_file == pubtator_file  # (PMID, type, id), (PMID, chemical id, disease id), (PMID, start, end, type)
    assert len(bioc_file.concepts) == 500
    assert sum(map(len, bioc_file.concepts.values())) > 100 and sum(map(len, bioc_file.relations.values())) > 10
    for measure in ("id", "mention"):
        in_bioc = score_files(test_set_predictions["gold"], test_set_predictions["xml"], measure=measure)
        in_pubtator = score_files(BC5CDR / "CDR_TestSet.PubTator.txt", test_set_predictions["pubtator"],
                                  measure=measure)
        assert in_bioc == in_pubtator
    assert in_bioc["Chemical"]["tp_pred"] > 0  # a random model finds some test mentions exactly
    # the corpus's layout: bare MeSH ids, relations as relation / Chemical / Disease infons
    collection = collection_of(test_set_predictions["xml"])
    annotations = [a for d in collection.documents for p in d.passages for a in p.annotations]
    assert all(set(a.infons) <= {"type", "MESH", "CompositeRole", "link_score"} for a in annotations)
    assert all(all(i == "-1" or i.startswith(("D", "C")) for i in a.infons["MESH"].split("|")) for a in annotations)
    relations = [r for d in collection.documents for r in d.relations]
    assert relations and all(set(r.infons) == {"relation", "Chemical", "Disease", "score"} for r in relations)


def test_bioc_in_predict_bioc_out_keeps_passages_offsets_and_ids(test_set_predictions):
    first, again = collection_of(test_set_predictions["first"]), collection_of(test_set_predictions["again"])
    raws = list(iter_pubtator(BC5CDR / "CDR_TestSet.PubTator.txt", None, None))[:100]
    assert passages_of(first) == passages_of(again) == [
        (r.pmid, [(0, r.title, {"type": "title"}), (len(r.title) + 1, r.abstract, {"type": "abstract"})]) for r in raws]
    assert read_file(test_set_predictions["again"]) == read_file(test_set_predictions["first"])
    assert sum(len(p.annotations) for d in again.documents for p in d.passages) > 100


# ---- both layouts, read and written --------------------------------------------------------------------------
RESULT = {
    "pmid": "1",
    "mentions": [
        {"start": 0, "end": 8, "text": "Naloxone", "type": "Chemical", "ids": ["MESH:D009270"], "link_score": 1.0},
        {"start": 30, "end": 58, "text": "ocular and auditory toxicity", "type": "Disease",
         "ids": ["MESH:D014786", "MESH:D006311"], "link_score": 0.8},
        {"start": 60, "end": 68, "text": "nalozone", "type": "Chemical", "ids": [], "link_score": None},
    ],
    "entities": [{"id": "MESH:D009270", "type": "Chemical", "mention_indices": [0]},
                 {"id": "MESH:D014786", "type": "Disease", "mention_indices": [1]},
                 {"id": "MESH:D006311", "type": "Disease", "mention_indices": [1]},
                 {"id": "NIL:Chemical:nalozone", "type": "Chemical", "mention_indices": [2]}],
    "relations": [{"label": "CID", "head": "MESH:D009270", "tail": "MESH:D014786", "score": 0.9},
                  {"label": "CID", "head": "NIL:Chemical:nalozone", "tail": "MESH:D006311", "score": 0.7}],
}


def test_the_two_layouts_write_and_read_the_same_concepts():
    assert annotation_infons(RESULT["mentions"][1], ["MESH:D014786", "MESH:D006311"], "bc5cdr") == {
        "type": "Disease", "CompositeRole": "CompositeMention", "MESH": "D014786|D006311", "link_score": "0.8"}
    assert annotation_infons(RESULT["mentions"][2], ["NIL:Chemical:nalozone"], "bc5cdr") == {
        "type": "Chemical", "MESH": "-1"}
    assert annotation_infons(RESULT["mentions"][1], ["MESH:D014786", "MESH:D006311"], "pubtator3") == {
        "type": "Disease", "identifier": "MESH:D014786;MESH:D006311", "entity": "MESH:D014786;MESH:D006311",
        "link_score": "0.8"}
    document = {"text": "x" * 70}
    for layout in ("bc5cdr", "pubtator3"):
        doc = bioc_document(document, RESULT, layout)
        annotations = doc.passages[0].annotations
        assert [annotation_concepts(a.infons) for a in annotations] == [
            ("Chemical", ["D009270"]), ("Disease", ["D014786", "D006311"]), ("Chemical", [])]
        found = [relation_concepts(r.infons, ("Chemical", "Disease")) for r in doc.relations]
        # the bc5cdr layout has no place for a relation with a NIL end; pubtator3 keeps it (and reads it as none)
        assert [f for f in found if f] == [("CID", "D009270", "D014786")]
        assert len(doc.relations) == (1 if layout == "bc5cdr" else 2)


def test_the_corpus_layout_with_composite_parts_reads_like_its_pubtator_twin(tmp_path):
    """A document laid out as the BC5CDR release's BioC files are (training set PMID 2234245's title): a composite
    mention followed by its IndividualMention parts, one of them over two locations."""
    title = "Ocular and auditory toxicity in hemodialyzed patients receiving desferrioxamine."
    xml = tmp_path / "corpus.xml"
    xml.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<collection><source>PubTator</source><date>0/0/0</date><key>PubTator.key</key>
<document><id>2234245</id>
<passage><infon key="type">title</infon><offset>0</offset><text>{title}</text>
<annotation id="0"><infon key="type">Disease</infon><infon key="CompositeRole">CompositeMention</infon>
<infon key="MESH">D014786|D006311</infon><location offset="0" length="28"/><text>Ocular and auditory toxicity</text></annotation>
<annotation id="1"><infon key="type">Disease</infon><infon key="CompositeRole">IndividualMention</infon>
<infon key="MESH">D014786</infon><location offset="0" length="6"/><location offset="20" length="8"/><text>Ocular toxicity</text></annotation>
<annotation id="2"><infon key="type">Disease</infon><infon key="CompositeRole">IndividualMention</infon>
<infon key="MESH">D006311</infon><location offset="11" length="17"/><text>auditory toxicity</text></annotation>
<annotation id="3"><infon key="type">Chemical</infon><infon key="MESH">D003676</infon>
<location offset="64" length="15"/><text>desferrioxamine</text></annotation>
</passage>
<passage><infon key="type">abstract</infon><offset>{len(title) + 1}</offset><text>None.</text></passage>
<relation id="R0"><infon key="relation">CID</infon><infon key="Chemical">D003676</infon><infon key="Disease">D014786</infon></relation>
</document></collection>
""", encoding="utf-8")
    pubtator = tmp_path / "corpus.PubTator.txt"
    pubtator.write_text(f"2234245|t|{title}\n2234245|a|None.\n"
                        "2234245\t0\t28\tOcular and auditory toxicity\tDisease\tD014786|D006311\tOcular toxicity|auditory toxicity\n"
                        "2234245\t64\t79\tdesferrioxamine\tChemical\tD003676\n2234245\tCID\tD003676\tD014786\n\n",
                        encoding="utf-8")
    assert read_file(xml) == read_file(pubtator)
    # as predict.py input, the annotated corpus file reads like the plain one
    (from_bioc,), (from_pubtator,) = list(read_inputs([str(xml)])), list(read_inputs([str(pubtator)]))
    assert (from_bioc.pmid, from_bioc.title, from_bioc.abstract) == (from_pubtator.pmid, title, "None.")


# ---- issue 28: full-text articles ----------------------------------------------------------------------------
def _abstracts(count: int) -> list[str]:
    return [raw.abstract for raw in iter_pubtator(BC5CDR / "CDR_TrainingSet.PubTator.txt", None, None)][:count]


def write_article(path: Path, paragraphs: int = 6) -> list[dict]:
    """A PMC-shaped BioC article: title, abstract, sections with headings, paragraphs, a figure caption, a table
    with its caption, and a reference list; offsets leave one character between passages, and three after the
    methods paragraph (as PMC files do around removed markup). The table and one reference repeat the text of
    the first paragraph, so that skipping them is what keeps them untagged. Returns the passages written."""
    texts = _abstracts(paragraphs + 1)
    layout = [("TITLE", "front", "Naloxone and clonidine: a full-text study of drug-induced hypotension."),
              ("ABSTRACT", "abstract", texts[0]), ("INTRO", "title_1", "Introduction"),
              ("INTRO", "paragraph", texts[1]), ("METHODS", "title_1", "Methods"), ("METHODS", "paragraph", texts[2])]
    layout += [("RESULTS", "paragraph", t) for t in texts[3:paragraphs + 1]]
    layout += [("FIG", "fig_caption", "Figure 1. Blood pressure after clonidine and naloxone."),
               ("TABLE", "table_caption", "Table 1. Adverse events."), ("TABLE", "table", texts[1]),
               ("REF", "title", "References"), ("REF", "ref", texts[1]), ("REF", "ref", "Smith J. Lithium. 1990.")]
    document = bioc.BioCDocument()
    document.id = "2345678"
    document.infons["license"] = "CC BY"
    offset, passages = 0, []
    for section, kind, text in layout:
        passage = bioc.BioCPassage()
        passage.infons.update({"section_type": section, "type": kind})
        passage.offset, passage.text = offset, text
        document.add_passage(passage)
        passages.append({"offset": offset, "text": text, "infons": {"section_type": section, "type": kind}})
        offset += len(text) + (3 if (section, kind) == ("METHODS", "paragraph") else 1)
    collection = bioc.BioCCollection()
    collection.source = "PMC"
    collection.add_document(document)
    if path.name.endswith(".xml"):
        with open(path, "w", encoding="utf-8") as handle:
            biocxml.dump(collection, handle)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            biocjson.dump(collection, handle)
    return passages


@pytest.mark.parametrize("name, layout", [("article.xml", "bc5cdr"), ("article.json", "pubtator3")])
def test_a_full_text_article_in_and_out(model_dir, tmp_path, name, layout):
    source = tmp_path / name
    passages = write_article(source, paragraphs=14)
    results = {}
    for skip_tables in (False, True):
        out = tmp_path / f"out-{skip_tables}-{name}"
        predict_here("--model", str(model_dir), "--input", str(source), "--output", str(out), "--bioc-layout", layout,
                     *(["--skip-tables"] if skip_tables else []))
        (document,) = collection_of(out).documents  # read back by the bioc package
        assert (document.id, dict(document.infons)) == ("2345678", {"license": "CC BY"})
        assert [(p.offset, p.text, dict(p.infons)) for p in document.passages] == [
            (p["offset"], p["text"], p["infons"]) for p in passages]
        annotations = {}
        for passage in document.passages:
            for a in passage.annotations:
                (location,) = a.locations
                start = location.offset - passage.offset  # the passage's own coordinates
                assert 0 <= start and start + location.length <= len(passage.text)
                assert passage.text[start:start + location.length] == a.text
                annotations.setdefault(passage.infons["type"], []).append(a)
        assert all(not p.annotations for p in document.passages if p.infons["section_type"] == "REF")
        # the first reference repeats the introduction's text, which is tagged
        assert next(p for p in document.passages if p.infons["section_type"] == "INTRO" and p.annotations)
        assert len(annotations.get("paragraph", [])) > 5 and "abstract" in annotations
        # the table repeats the first paragraph's text, which is tagged: tagged too, unless --skip-tables
        assert ("table" in annotations) is not skip_tables
        # relations at document level, between what the annotations name
        if layout == "pubtator3":
            ids = {a.id for passage in document.passages for a in passage.annotations}
            assert document.relations and all(node.refid in ids for r in document.relations for node in r.nodes)
        else:
            mesh = {i for passage in document.passages for a in passage.annotations for i in a.infons["MESH"].split("|")}
            assert all({r.infons["Chemical"], r.infons["Disease"]} <= mesh for r in document.relations)
        results[skip_tables] = document
    assert len(results[False].relations) >= len(results[True].relations)


def test_extract_the_pipeline_and_predict_py_agree_on_an_article(model_dir, tmp_path):
    from transformers import AutoModel, AutoTokenizer, pipeline

    from modeling import register

    source = tmp_path / "article.xml"
    passages = write_article(source, paragraphs=24)  # about 23,000 characters
    out = tmp_path / "article.jsonl"
    predict_here("--model", str(model_dir), "--input", str(source), "--output", str(out))
    (from_predict,) = read_jsonl(out)
    register()
    model = AutoModel.from_pretrained(str(model_dir), trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=True)
    article = {"pmid": "2345678", "passages": passages}
    text = input_document(article, 0)["text"]
    assert len(text) > 20_000 and text == passages_text(passages)
    (from_extract,) = model.extract([article], tokenizer)
    from_pipeline = pipeline("joint-ner-re", model=model, tokenizer=tokenizer)(article)
    assert rounded([from_extract]) == rounded([from_pipeline]) == rounded([from_predict])
    assert from_predict["mentions"] and all(text[m["start"]:m["end"]] == m["text"] for m in from_predict["mentions"])
    references = next(p for p in passages if p["infons"]["type"] == "ref")
    assert not any(references["offset"] <= m["start"] < references["offset"] + len(references["text"])
                   for m in from_predict["mentions"])
    # PubTator output keeps every offset: the title, then the rest of the article as the abstract
    pubtator = tmp_path / "article.pubtator"
    predict_here("--model", str(model_dir), "--input", str(source), "--output", str(pubtator))
    (raw,) = list(iter_pubtator(pubtator, TYPES, ["CID"]))
    assert raw.title == passages[0]["text"] and raw.text == text.replace("\n", " ")
    assert [(m.start, m.end, m.text) for m in raw.mentions] == [
        (m["start"], m["end"], m["text"]) for m in from_predict["mentions"]]


def test_passages_text_places_each_passage_at_its_offset_and_blanks_skipped_ones():
    passages = [{"offset": 0, "text": "Title."}, {"offset": 7, "text": "Body", "infons": {"type": "paragraph"}},
                {"offset": 15, "text": "Ref.", "infons": {"section_type": "REF", "type": "ref"}},
                {"offset": 20, "text": "Table", "infons": {"type": "table"}, "skip": True},
                {"offset": 26, "text": "End"}]
    assert passages_text(passages) == "Title. Body" + " " * 15 + "End"
    with pytest.raises(InputError, match=r"input 0 \('7'\), passage 1: offset 3 is inside the passage before it"):
        input_document({"pmid": 7, "passages": [{"offset": 0, "text": "Title."}, {"offset": 3, "text": "x"}]}, 0)
    with pytest.raises(InputError, match=r"passage 0: 'text' must be a str"):
        passages_text([{"offset": 0, "text": None}])


def test_a_mention_across_touching_passages_is_left_out_of_bioc_and_reported(tmp_path):
    document = {"text": "AspirinInduced", "passages": [{"offset": 0, "text": "Aspirin", "infons": {}},
                                                          {"offset": 7, "text": "Induced", "infons": {}}]}
    result = {"pmid": "9", "mentions": [
        {"start": 0, "end": 7, "text": "Aspirin", "type": "Chemical", "ids": [], "link_score": None},
        {"start": 3, "end": 10, "text": "rinIndu", "type": "Chemical", "ids": [], "link_score": None}],
        "entities": [], "relations": []}
    left_out: list = []
    doc = bioc_document(document, result, "bc5cdr", left_out)
    assert [a.text for p in doc.passages for a in p.annotations] == ["Aspirin"] and left_out == [("9", 3, 10)]
    settings = RunSettings(inputs=[], output=tmp_path / "out.xml", output_format="bioc-xml", model="m")
    lines = report(Summary(documents=1, mentions=2, left_out=left_out), settings).splitlines()
    assert lines[1:] == ["left 1 mention(s) out of the BioC output: each crosses the boundary of two passages that "
                         "touch (the other formats keep them):", "  document 9: 3-10"]


def test_bad_bioc_input_names_file_and_document(model_dir, tmp_path):
    bad = tmp_path / "bad.json"
    good = {"id": "1", "infons": {}, "relations": [], "annotations": [],
            "passages": [{"offset": 0, "infons": {"type": "title"}, "text": "Lithium.", "annotations": [],
                          "relations": [], "sentences": []}]}
    overlapping = json.loads(json.dumps(good))
    overlapping["id"] = "2"
    overlapping["passages"].append({**overlapping["passages"][0], "offset": 4, "text": "Tremor."})
    sentences = json.loads(json.dumps(good))
    sentences["id"] = "3"
    sentences["passages"][0].update(text=None, sentences=[{"offset": 0, "infons": {}, "text": "Lithium.",
                                                           "annotations": [], "relations": []}])
    bad.write_text(json.dumps({"source": "", "date": "", "key": "", "infons": {},
                               "documents": [good, overlapping, sentences]}), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    done = predict_here("--model", str(model_dir), "--input", str(bad), "--output", str(out), check=False)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(
        f"error: {bad}, document 2 (document 2): passage 1: offset 4 is inside the passage before it")
    done = predict_here("--model", str(model_dir), "--input", str(bad), "--output", str(out), "--skip-errors")
    assert [r["pmid"] for r in read_jsonl(out)] == ["1"]
    assert f"{bad}, document 3 (document 3): passage 0 (offset 0) holds sentences, not text" in done.stdout


def test_the_bc5cdr_layout_is_refused_for_a_model_with_genes(encoder, tmp_path):
    genes = write_tiny_model(encoder, tmp_path / "genes", entity_types=("Chemical", "Disease", "Gene"))
    texts = tmp_path / "t.txt"
    texts.write_text("Lithium causes tremor.\n", encoding="utf-8")
    done = predict_here("--model", str(genes), "--input", str(texts), "--output", str(tmp_path / "o.xml"),
                        "--bioc-layout", "bc5cdr", check=False)
    assert done.returncode == 2 and "this model also predicts Gene; use the pubtator3 layout" in done.stderr
    predict_here("--model", str(genes), "--input", str(texts), "--output", str(tmp_path / "o.xml"))  # pubtator3
    (document,) = collection_of(tmp_path / "o.xml").documents
    assert all("MESH" not in a.infons for p in document.passages for a in p.annotations)


def test_evaluate_writes_its_prediction_files_as_bioc_too(tmp_path, cache):
    from biomed_nerre.evaluation.run import main
    from tests.test_evaluation_run import save_tiny_model

    model_dir = save_tiny_model(tmp_path, "bc5cdr")
    assert main(["--model", str(model_dir), "--dataset", "bc5cdr", "--split", "test", "--data-dir", str(BC5CDR),
                 "--cache-dir", str(cache), "--output-dir", str(tmp_path / "results"), "--limit", "3",
                 "--bioc"]) == 0
    folder = tmp_path / "results" / "model" / "bc5cdr-test"
    metrics = json.loads((folder / "metrics.json").read_text())
    for mode in ("gold", "end2end"):
        assert metrics["files"][f"bioc_{mode}"] == f"predictions_{mode}.BioC.xml"
        assert read_file(folder / f"predictions_{mode}.BioC.xml") == read_file(folder / f"predictions_{mode}.PubTator.txt")
    # gold mode relates the gold (MeSH) entities: the file holds CID relations in the corpus's layout
    assert sum(map(len, read_file(folder / "predictions_gold.BioC.xml").relations.values())) > 0


def test_columns_carry_skip_tables_into_the_manifest():
    settings = RunSettings(inputs=[], output=Path("o.xml"), output_format="bioc-xml", model="m",
                           columns=Columns(skip_tables=True))
    assert settings.manifest({}, "cpu")["columns"]["skip_tables"] is True


def test_help_names_the_bioc_options():
    from biomed_nerre.evaluation.run import build_parser as evaluate_parser
    from biomed_nerre.prediction.cli import build_parser as predict_parser

    assert all(flag in predict_parser().format_help() for flag in ("--bioc-layout", "--skip-tables"))
    assert "--bioc" in evaluate_parser().format_help()
