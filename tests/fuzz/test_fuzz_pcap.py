"""Byte-mutated PCAPdroid captures (../shared/corpus/traffic/pcapdroid) through `appaudit traffic`.

Each case runs tshark two or three times (about half a second), hence fuzz_cost: fewer cases than the cheap
targets, in both the short and the `make fuzz` form.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from conftest import assert_clean_outcome, fuzz_cost, run_cli
from mutate import byte_mutations

PCAPS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "traffic" / "pcapdroid"
SEEDS = ["http_proxy.pcap", "metadata.pcap", "two_flows.pcap"]


@pytest.fixture(scope="module")
def identifiers(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ids") / "ids.json"
    path.write_text(json.dumps({"device_ids.advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d"}))
    return path


@fuzz_cost(8)
@given(data=st.data(), name=st.sampled_from(SEEDS), suffix=st.sampled_from([".pcap", ".cap", ".bin"]))
def test_pcap_byte_mutations(tmp_path_factory, identifiers, data, name, suffix):
    seed = PCAPS / name
    if not seed.exists():
        pytest.skip(f"{seed} not present")
    raw = seed.read_bytes()
    # Aim half the damage at the first 4 KiB: the global header and the first records' lengths.
    head = data.draw(st.booleans())
    mutated = data.draw(byte_mutations(raw[:4096] if head else raw))
    if head:
        mutated += raw[4096:]
    capture = tmp_path_factory.mktemp("pcap") / f"capture{suffix}"
    capture.write_bytes(mutated)
    outcome = run_cli(["traffic", str(capture), "--identifiers", str(identifiers)])
    assert_clean_outcome(outcome)
    assert capture.read_bytes() == mutated


@fuzz_cost(8)
@given(cut=st.integers(1, 4000), name=st.sampled_from(SEEDS))
def test_truncated_pcap_is_read_up_to_the_cut_and_says_so(tmp_path_factory, identifiers, cut, name):
    from audit.traffic.captures import read_capture

    seed = PCAPS / name
    if not seed.exists():
        pytest.skip(f"{seed} not present")
    raw = seed.read_bytes()
    capture = tmp_path_factory.mktemp("cut") / "capture.pcap"
    capture.write_bytes(raw[:max(24, len(raw) - cut)])
    outcome = run_cli(["traffic", str(capture), "--identifiers", str(identifiers)])
    assert_clean_outcome(outcome)
    result = read_capture(capture)
    if result.status == "ok" and len(raw) - cut > 24:
        # a record cut in the middle is named; a cut on a record boundary leaves whole records only
        assert result.partial or not any(h.limit == "pcap cut short" for h in result.limits)
