"""Sources of the LRRG benchmark: record shape, report sections, MIMIC-CXR-JPG / IU X-ray / folder / phantom readers."""

from __future__ import annotations

import csv
import json

import pytest

from lrrg.dataset_scripts.observations import CHEXPERT_OBSERVATIONS
from lrrg.dataset_scripts.report_sections import extract_sections
from lrrg.dataset_scripts.sources import (
    FolderSource,
    IuXraySource,
    MimicCxrSource,
    PhantomSource,
    StudyRecord,
    get_source,
    normalize_split,
)
from lrrg.dataset_scripts.sources.fake_trees import write_fake_mimic_tree

MIMIC_REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with new onset ascites  // eval for infection

 COMPARISON:  None.

 FINDINGS:

 There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral
 nodular opacities that most likely represent nipple shadows.

 IMPRESSION:

 No acute cardiopulmonary process.
"""


def test_extract_sections_reads_findings_and_impression_and_unwraps_lines():
    sections = extract_sections(MIMIC_REPORT)
    assert sections.findings.startswith("There is no focal consolidation, pleural effusion or pneumothorax. Bilateral")
    assert "\n" not in sections.findings and "  " not in sections.findings
    assert sections.impression == "No acute cardiopulmonary process."
    assert sections.findings_source == "findings"
    assert sections.sections["comparison"] == "None."


def test_extract_sections_normalises_headers_and_keeps_last_section():
    text = "FINDINGS: old text.\n\nFINDINGS: new text.\n\nFINDINGS AND IMPRESSION: small left effusion.\n"
    sections = extract_sections(text)
    assert sections.findings == "new text."
    assert sections.impression == "small left effusion."


def test_extract_sections_falls_back_to_last_paragraph_but_not_to_comparison():
    no_headers = " FINAL REPORT\n INDICATION: cough\n\n PA and lateral views. Lungs are clear.\n"
    assert extract_sections(no_headers).findings == "PA and lateral views. Lungs are clear."
    assert extract_sections(no_headers).findings_source == "last_paragraph"
    only_comparison = " INDICATION: cough\n\n COMPARISON: chest radiograph from ___.\n"
    assert extract_sections(only_comparison).findings == ""
    impression_only = " INDICATION: cough\n\n IMPRESSION: No acute process.\n"
    parsed = extract_sections(impression_only)
    assert (parsed.findings, parsed.impression) == ("", "No acute process.")


@pytest.mark.parametrize(
    ("header", "section"),
    [
        ("IMPRESSON", "impression"),  # misspellings found in MIMIC-CXR reports
        ("FINDNGS", "findings"),
        ("FINDINGS/ IMPRESSION", "impression"),
        ("IMPRESSION AND PLAN", "impression"),  # any header naming a main section
        ("CHEST, PA AND LATERAL", "findings"),  # a view title stands for the findings
        ("PORTABLE AP CHEST", "findings"),
        ("REASON FOR EXAM", "indication"),
        ("CLINICAL INFORMATION", "history"),
        ("RECOMMENDATION(S)", "recommendation"),
    ],
)
def test_section_headers_are_normalised_like_the_mimic_cxr_section_parser(header, section):
    from lrrg.dataset_scripts.report_sections import normalize_section_name

    assert normalize_section_name(header) == section


def test_view_title_header_holds_findings_and_an_empty_title_is_ignored():
    report = (" FINAL REPORT\n CHEST, PA AND LATERAL:\n \n INDICATION:  Cough.\n \n"
              " PA AND LATERAL VIEWS OF THE CHEST:  The lungs are clear.  No effusion.\n \n"
              " IMPRESSON:  No acute process.\n")
    sections = extract_sections(report)
    assert sections.findings == "The lungs are clear. No effusion."
    assert sections.impression == "No acute process."


def test_study_record_validates_labels_and_normalises_split():
    record = StudyRecord("x", 1, 2, 3, None, findings="  a ", labels={"Edema": 1.0}, split="validate")
    assert record.split == "validation" and record.findings == "a" and record.subject_id == "1"
    assert list(record.labels) == list(CHEXPERT_OBSERVATIONS) and record.labels["Edema"] == 1
    assert StudyRecord.from_dict(record.to_dict()) == record
    with pytest.raises(ValueError, match="unknown CheXpert observation"):
        StudyRecord("x", 1, 2, 3, None, labels={"Edemaa": 1})
    with pytest.raises(ValueError, match="unknown split"):
        normalize_split("holdout")


def test_mimic_source_selects_frontal_views_and_reads_real_layout(tmp_path):
    tree = write_fake_mimic_tree(tmp_path / "mimic", num_subjects=6, seed=1, size=64)
    records = list(MimicCxrSource(tree.root))
    by_study = {r.study_id: r for r in records}
    assert tree.lateral_only_study not in by_study  # no PA/AP image
    source = MimicCxrSource(tree.root)
    list(source)
    assert source.skipped == {"no frontal image": 1}
    for study in tree.studies:
        if study["study_id"] == tree.lateral_only_study:
            continue
        record = by_study[study["study_id"]]
        assert record.view in ("PA", "AP")
        assert record.image_path.endswith(".jpg") and record.image_relpath.startswith("files/p10/p")
        assert record.split == {"validate": "validation"}.get(study["split"], study["split"])
        assert record.labels == {name: study["labels"][name] for name in CHEXPERT_OBSERVATIONS}
        if study["study_id"] == tree.missing_report_study:
            assert not record.has_report and record.extra["report_missing"]
        else:
            assert record.has_report
            assert study["impression"] in record.impression or study["findings"] in record.findings
    ap_only = MimicCxrSource(tree.root, view_priority=("AP",))
    assert all(r.view == "AP" for r in ap_only)


def test_mimic_source_names_missing_tables(tmp_path):
    with pytest.raises(FileNotFoundError, match="mimic-cxr-2.0.0-metadata.csv"):
        list(MimicCxrSource(tmp_path))


def test_folder_source_reads_csv_and_jsonl(tmp_path):
    with (tmp_path / "metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["file_name", "findings", "impression", "Edema", "split"])
        writer.writeheader()
        writer.writerow({"file_name": "a.png", "findings": "Lungs clear.", "impression": "Normal.", "Edema": "0", "split": "train"})
        writer.writerow({"file_name": "sub/b.png", "findings": "", "impression": "Edema.", "Edema": "1.0", "split": ""})
    records = list(FolderSource(tmp_path))
    assert [r.study_id for r in records] == ["a", "b"]
    assert records[0].labels["Edema"] == 0 and records[1].labels["Edema"] == 1 and records[1].split is None
    assert records[1].image_path == str(tmp_path / "sub" / "b.png")
    (tmp_path / "metadata.csv").unlink()
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"image": "c.png", "findings": "x", "Edema": "maybe"}) + "\n")
    with pytest.raises(ValueError, match="label column 'Edema'"):
        list(FolderSource(tmp_path))


def test_phantom_source_is_deterministic_and_degrades_a_fraction(tmp_path):
    source = PhantomSource(num_studies=40, seed=3, size=64, lq_fraction=0.5)
    specs = list(source.iter_specs())
    assert specs == list(PhantomSource(num_studies=40, seed=3, size=64, lq_fraction=0.5).iter_specs())
    degraded = [s for s in specs if s.degradation != "none"]
    assert 8 <= len(degraded) <= 32 and all(2 <= s.severity <= 5 for s in degraded)
    record = source.load(specs[0])
    again = source.load(specs[0])
    assert record.has_report and record.image.tobytes() == again.image.tobytes()
    assert record.subject_id == source.load(specs[1]).subject_id  # two studies per subject
    assert len(source) == 40
    with pytest.raises(ValueError, match="lq_fraction"):
        PhantomSource(lq_fraction=2)


def test_get_source_validates_names_and_roots(tmp_path):
    assert isinstance(get_source("phantom", num_studies=2), PhantomSource)
    with pytest.raises(ValueError, match="choose one of"):
        get_source("chexpert")
    with pytest.raises(ValueError, match="needs a root"):
        get_source("mimic-cxr")


@pytest.mark.shared_data
def test_iu_xray_layouts_from_shared_reports(shared_data):
    iu = shared_data / "iu_xray"
    openi = IuXraySource(iu / "openi_reports.json", images_dir="/nonexistent")
    assert openi.layout == "openi-json"
    records = list(openi)
    assert len(records) > 3000
    first = next(r for r in records if r.study_id == "162")
    assert first.image_id == "CXR162_IM-0401-1001" and first.view == "Frontal"
    assert first.findings.startswith("heart size normal") and first.impression == "normal chest"
    r2gen = IuXraySource(iu / "r2gen_annotation.json")
    splits = {r.split for r in r2gen}
    assert splits == {"train", "validation", "test"}  # the four-space test key included
    assert sum(1 for r in r2gen if r.split == "test") == 590
    kaggle = IuXraySource(iu / "indiana_reports.csv")
    assert kaggle.layout == "kaggle-csv" and next(iter(kaggle)).view == "Frontal"


def test_mimic_source_reads_plain_csv_prefers_pa_and_filters_official_splits(tmp_path):
    import gzip

    import pandas as pd

    tree = write_fake_mimic_tree(tmp_path / "mimic", num_subjects=5, seed=4, size=48, defects=False)
    for gz in tree.root.glob("*.csv.gz"):  # the tables as plain .csv (both forms are distributed)
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    study = next(s for s in tree.studies if dict((v, d) for d, v in s["dicom_ids"]).get("PA"))
    pa_dicom = next(d for d, v in study["dicom_ids"] if v == "PA")
    ap_dicom = "0" * 8 + "-ap"  # sorts before the PA image: only the view priority can pick the PA
    meta = pd.read_csv(tree.root / "mimic-cxr-2.0.0-metadata.csv", dtype=str)
    row = meta[meta["dicom_id"] == pa_dicom].assign(dicom_id=ap_dicom, ViewPosition="AP")
    pd.concat([meta, row]).to_csv(tree.root / "mimic-cxr-2.0.0-metadata.csv", index=False)
    split = pd.read_csv(tree.root / "mimic-cxr-2.0.0-split.csv", dtype=str)
    row = split[split["dicom_id"] == pa_dicom].assign(dicom_id=ap_dicom)
    pd.concat([split, row]).to_csv(tree.root / "mimic-cxr-2.0.0-split.csv", index=False)
    records = {r.study_id: r for r in MimicCxrSource(tree.root)}
    assert len(records) == len(tree.studies)
    assert (records[study["study_id"]].image_id, records[study["study_id"]].view) == (pa_dicom, "PA")
    assert all(r.labels == {n: s["labels"][n] for n in CHEXPERT_OBSERVATIONS}
               for s in tree.studies for r in [records[s["study_id"]]])
    ap_first = {r.study_id: r for r in MimicCxrSource(tree.root, view_priority=("AP", "PA"))}
    assert (ap_first[study["study_id"]].image_id, ap_first[study["study_id"]].view) == (ap_dicom, "AP")
    for name in ("validate", "validation"):
        kept = list(MimicCxrSource(tree.root, splits=[name]))
        assert kept and all(r.split == "validation" for r in kept)


OPENI_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR{uid}"/>
  <IUXRId id="{uid}"/>
  <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
    <Article PubModel="Electronic">
      <ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle>
      <Abstract>
        <AbstractText Label="COMPARISON">None.</AbstractText>
        <AbstractText Label="INDICATION">Positive TB test</AbstractText>
        <AbstractText Label="FINDINGS">{findings}</AbstractText>
        <AbstractText Label="IMPRESSION">{impression}</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  <MeSH><major>normal</major></MeSH>
  {images}
</eCitation>
"""


def test_iu_xray_reads_openi_xml_and_picks_the_frontal_image(tmp_path):
    reports = tmp_path / "ecgen-radiology"
    reports.mkdir()
    studies = {"1": ("CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"), "7": ("CXR7_IM-2263-1001", "CXR7_IM-2263-2001")}
    for uid, images in studies.items():
        parents = "\n  ".join(f'<parentImage id="{i}"><caption>Xray Chest PA and Lateral</caption></parentImage>'
                              for i in images)
        (reports / f"{uid}.xml").write_text(OPENI_XML.format(uid=uid, findings=f"The lungs are clear {uid}.",
                                                             impression="Normal chest x-XXXX.", images=parents))
    (reports / "9.xml").write_text(OPENI_XML.format(uid=9, findings="", impression="No images.", images=""))
    with (tmp_path / "indiana_projections.csv").open("w", newline="") as handle:  # Kaggle names
        writer = csv.writer(handle)
        writer.writerows([("uid", "filename", "projection"), ("1", "1_IM-0001-4001.dcm.png", "Frontal"),
                          ("1", "1_IM-0001-3001.dcm.png", "Lateral"), ("7", "7_IM-2263-1001.dcm.png", "Frontal"),
                          ("7", "7_IM-2263-2001.dcm.png", "Lateral")])
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "CXR7_IM-2263-1001.png").write_bytes(b"png")
    source = IuXraySource(tmp_path)
    assert source.layout == "openi-xml"
    records = {r.study_id: r for r in source}
    assert set(records) == {"1", "7"} and source.skipped == {"no image listed": 1}
    assert records["7"].image_id == "CXR7_IM-2263-1001" and records["7"].view == "Frontal"
    assert records["7"].image_path == str(tmp_path / "images" / "CXR7_IM-2263-1001.png")
    assert (records["7"].findings, records["7"].impression) == ("The lungs are clear 7.", "Normal chest x-XXXX.")
    assert records["7"].other_image_paths == (str(tmp_path / "images" / "CXR7_IM-2263-2001.png"),)
    # Open-i writes `CXR1_1_IM-...` where the projections table has `1_IM-...`: the frontal is still found.
    assert records["1"].image_id == "CXR1_1_IM-0001-4001" and records["1"].view == "Frontal"
