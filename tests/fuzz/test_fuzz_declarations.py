"""Mutated declarations through the real `appaudit audit`: data sheets (YAML, Play CSV, xcprivacy), inquiry
claims, and identifiers files (YAML) through `appaudit traffic`.

Structural mutations keep most of a real document valid so the validators and the rule engine are reached;
byte mutations exercise the parsers. Every case ends in a report or one `appaudit: error:` line.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, strategies as st

from conftest import FUZZ, assert_clean_outcome, fuzz_cost, run_cli
from mutate import byte_mutations, json_mutations, text_line_mutations

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SHEET = EXAMPLES / "webex-inquiry" / "datasheet.yaml"
CLAIMS = EXAMPLES / "webex-inquiry" / "claims.yaml"
PLAY_CSV = EXAMPLES / "datasheets" / "education-play-datasafety.csv"
XCPRIVACY = EXAMPLES / "datasheets" / "PrivacyInfo.xcprivacy"
HAR = REPO.parent / "shared" / "corpus" / "traffic" / "mitmproxy-formats" / "har_files_chrome.har"
# Data-type ids and YAML oddities worth drawing in place of a real value.
ODD_YAML = ["device_ids.imei", "location", "nonsense.type", "!!binary aGVsbG8=", "*undefined_alias", "&a x",
            "2024-13-45", "1e999", "0x" + "f" * 50, "? complex key", "- - - x", "{a: [", "\t", "~", "!!set {a, b}",
            "!!python/object:os.system {}"]


def _yaml_doc(path: Path):
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


@st.composite
def yaml_documents(draw, seed: Path):
    """A real YAML document, damaged as a tree (then dumped) or as text."""
    kind = draw(st.sampled_from(["tree", "text", "lines", "splice"]))
    if kind == "tree":
        return yaml.safe_dump(draw(json_mutations(_yaml_doc(seed))), allow_unicode=True, sort_keys=False)
    text = seed.read_text()
    if kind == "text":
        return draw(byte_mutations(text.encode(), max_ops=4)).decode("utf-8", "replace")
    if kind == "lines":
        return draw(text_line_mutations(text))
    lines = text.splitlines()
    index = draw(st.integers(0, len(lines) - 1))
    lines[index] = lines[index][:draw(st.integers(0, len(lines[index])))] + draw(st.sampled_from(ODD_YAML))
    return "\n".join(lines) + "\n"


def _audit(tmp_path_factory, apk, *, sheet_text=None, sheet_suffix=".yaml", claims_text=None):
    folder = tmp_path_factory.mktemp("decl")
    sheet = folder / f"sheet{sheet_suffix}"
    if sheet_text is None:
        sheet = SHEET
    else:
        sheet.write_bytes(sheet_text if isinstance(sheet_text, bytes) else sheet_text.encode("utf-8"))
    argv = ["audit", str(apk), "--datasheet", str(sheet), "-o", str(folder / "report.json")]
    if claims_text is not None:
        claims = folder / "claims.yaml"
        claims.write_text(claims_text, encoding="utf-8")
        argv += ["--inquiry", str(claims)]
    outcome = run_cli(argv)
    assert_clean_outcome(outcome)
    if outcome.code == 2:   # only the damaged file can be at fault, and the error must say which one it is
        assert ("sheet" if claims_text is None else "claims") in outcome.stderr, outcome.stderr
    return outcome


@pytest.fixture(scope="module")
def apk(clean_apk):
    return clean_apk   # the smallest fixture app: each case is a whole audit


@fuzz_cost(2)
@given(data=st.data())
def test_datasheet_yaml_mutations(tmp_path_factory, apk, data):
    _audit(tmp_path_factory, apk, sheet_text=data.draw(yaml_documents(SHEET)))


@fuzz_cost(2)
@given(data=st.data())
def test_inquiry_claims_mutations(tmp_path_factory, apk, data):
    _audit(tmp_path_factory, apk, claims_text=data.draw(yaml_documents(CLAIMS)))


@fuzz_cost(2)
@given(data=st.data(), seed=st.sampled_from([PLAY_CSV, XCPRIVACY]))
def test_store_datasheet_mutations(tmp_path_factory, apk, data, seed):
    raw = seed.read_bytes()
    mutated = data.draw(st.one_of(byte_mutations(raw),
                                  text_line_mutations(raw.decode("utf-8")).map(lambda t: t.encode("utf-8"))))
    # half the cases without the suffix: the format is then chosen by content
    suffix = data.draw(st.sampled_from([seed.suffix, ".txt"]))
    _audit(tmp_path_factory, apk, sheet_text=mutated, sheet_suffix=suffix)


@FUZZ
@given(text=yaml_documents(REPO / "tests" / "fuzz" / "seeds" / "identifiers.yaml"))
def test_identifiers_yaml_mutations(tmp_path_factory, text):
    if not HAR.exists():
        pytest.skip("shared corpus absent")
    ids = tmp_path_factory.mktemp("ids") / "ids.yaml"
    ids.write_text(text, encoding="utf-8")
    assert_clean_outcome(run_cli(["traffic", str(HAR), "--identifiers", str(ids)]))
