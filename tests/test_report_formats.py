"""Report formats from one real audit of the education fixture: Markdown, self-contained HTML rendered in
headless Chromium (screenshot checked for content), SARIF 2.1.0 structure, determinism and redaction."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from audit.model import Actor, ActorKind, Evidence, Level, Observation, Transmission
from audit.report import dumps_json
from audit.report.html import render_html
from audit.report.markdown import render_markdown
from audit.report.sarif import LEVELS, render_sarif
from audit.rules.command import audit_app, build_report, redact_report
from audit.rules.declarations import load_declarations
from audit.rules.engine import AuditInput, evaluate
from audit.rules.inquiry import answer, load_inquiry

REPO = Path(__file__).resolve().parents[1]
WEBEX = REPO / "examples" / "webex-inquiry"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IMEI = "358240051111110"


@pytest.fixture(scope="module")
def report(education_apk):
    return audit_app([str(education_apk)], str(WEBEX / "datasheet.yaml"),
                     inquiry_path=str(WEBEX / "claims.yaml")).to_json()


@pytest.fixture(scope="module")
def sent_report():
    """A constructed audit where the IMEI is sent in clear text, to exercise transmitted paths and redaction."""
    evidence = (Evidence("request", "req-1", "query:imei", f"http://t.example.net/c?imei={IMEI}"),)
    observations = (
        Observation("device_ids.imei", Level.TRANSMITTED, Actor(ActorKind.FIRST_PARTY), "traffic", evidence,
                    "t.example.net", "third"),
        Observation("device_ids.imei", Level.REACHABLE, Actor(ActorKind.FIRST_PARTY), "static",
                    (Evidence("call-site", "Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;",
                              "Lorg/edukit/classroom/DeviceInfo;->collect(Landroid/content/Context;)V"),)),
    )
    audit = AuditInput("org.edukit.classroom", observations, artifact="build/app.apk",
                       transmissions=(Transmission("device_ids.imei", "req-1", "t.example.net", "http",
                                                   where=("query", "imei")),),
                       static_scanned=True, static_complete=True, captured=True)
    sheet = load_declarations(WEBEX / "datasheet.yaml")
    result = evaluate(audit, sheet)
    claims = answer(load_inquiry(WEBEX / "claims.yaml"), audit, sheet)
    return build_report(audit, sheet, result, claims, load_inquiry(WEBEX / "claims.yaml")).to_json()


def test_json_is_deterministic(education_apk, report):
    again = audit_app([str(education_apk)], str(WEBEX / "datasheet.yaml"),
                      inquiry_path=str(WEBEX / "claims.yaml")).to_json()
    assert dumps_json(report) == dumps_json(again)


def test_markdown(report):
    text = render_markdown(report)
    assert text.startswith("# appaudit: org.edukit.classroom 3.1.0")
    assert "## Claims: HRW question 1 to Cisco" in text and "## Findings" in text and "## Data types" in text
    row = next(line for line in text.splitlines() if line.startswith("| **imei**"))
    assert row.count(" | ") == 5 and "inconclusive" in row and "not collected: device_ids.imei" in row
    assert "| contested |" in row
    assert "fingerprint `" in text and "call-site: `Landroid/telephony/TelephonyManager;->getDeviceId()" in text


def test_markdown_escapes_table_breakers(sent_report):
    hostile = json.loads(json.dumps(sent_report))
    hostile["claims"][0]["text"] = "a | b\nc `d`"
    row = next(line for line in render_markdown(hostile).splitlines() if line.startswith("| **aaid**"))
    assert "a \\| b c \\`d\\`" in row      # audit/escape.py markdown(): shown literally, no code span


def test_redaction_of_identifier_values(sent_report):
    assert IMEI in dumps_json(sent_report)
    redacted = dumps_json(redact_report(sent_report, [IMEI]))
    assert IMEI not in redacted and "3…0#" in redacted


def test_html_is_self_contained_and_escaped(report, sent_report):
    text = render_html(report)
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "HRW question 1 to Cisco" in text
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", text, re.I)
    external = set(re.findall(r"https?://[^\s\"'<)]+", text)) - {"http://www.w3.org/2000/svg"}
    assert not external, external
    hostile = json.loads(json.dumps(sent_report))
    hostile["declarations"]["source"] = "<script>alert(1)</script>"
    assert "<script>alert" not in render_html(hostile) and "&lt;script&gt;" in render_html(hostile)
    # Transmitted flows draw solid edges, capability-only flows dashed ones.
    assert 'stroke-dasharray' in text and "stroke-dasharray" not in flow_paths(render_html(sent_report), solid=True)


def flow_paths(html: str, solid: bool) -> str:
    paths = re.findall(r"<path [^>]*>", html)
    return "".join(p for p in paths if ("stroke-dasharray" in p) != solid)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")
def test_html_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image, ImageStat
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2000",
         page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), done.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    image = Image.open(shot).convert("L")
    assert image.size == (1280, 2000)
    stats = ImageStat.Stat(image)
    assert stats.stddev[0] > 20, "screenshot looks blank"
    # Content reaches the lower half too (the claim table and the flow diagram are long).
    lower = image.crop((0, 1000, 1280, 2000))
    assert ImageStat.Stat(lower).stddev[0] > 10
    if os.environ.get("APPAUDIT_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["APPAUDIT_KEEP_SCREENSHOT"])


def test_sarif_structure(report, sent_report):
    for source in (report, sent_report):
        sarif = json.loads(dumps_json(render_sarif(source)))
        assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
        run = sarif["runs"][0]
        driver = run["tool"]["driver"]
        assert driver["name"] == "appaudit"
        rule_ids = [r["id"] for r in driver["rules"]]
        assert len(rule_ids) == len(set(rule_ids)) == len(source["checks"])
        for rule in driver["rules"]:
            assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
            assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert len(run["results"]) == len(source["findings"]) > 0
        for result, finding in zip(run["results"], source["findings"]):
            assert result["ruleId"] == finding["rule"] == rule_ids[result["ruleIndex"]]
            assert result["level"] == LEVELS[finding["severity"]]
            assert result["message"]["text"] == finding["message"]
            assert result["partialFingerprints"]["appaudit/v1"] == finding["fingerprint"]
            # Located at the data-sheet line the finding was judged against; the APK is a related location.
            location = result["locations"][0]["physicalLocation"]
            assert location["artifactLocation"]["uri"] == run["artifacts"][0]["location"]["uri"]
            assert location["artifactLocation"]["uri"].endswith("datasheet.yaml")
            if finding["statement"] and finding["statement"].split(":")[-1].isdigit():
                assert location["region"]["startLine"] == int(finding["statement"].split(":")[-1])
            related = {r["id"]: r for r in result["relatedLocations"]}
            assert related[1]["physicalLocation"]["artifactLocation"]["uri"].endswith(source["artifact"])
            if any(e["kind"] == "call-site" for e in finding["evidence"]):
                logical = related[2]["logicalLocations"][0]
                assert logical["kind"] == "type" and "." in logical["fullyQualifiedName"]
        for rule in driver["rules"]:
            assert rule["helpUri"].endswith(f"docs/verdicts.md#{rule['id']}") and rule["help"]["markdown"]
    sarif = render_sarif(sent_report)
    assert sarif["runs"][0]["artifacts"][1]["location"]["uri"] == "build/app.apk"
    cleartext = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "cleartext-identifier"]
    assert cleartext and cleartext[0]["level"] == "error"
    assert {r["id"]: r for r in cleartext[0]["relatedLocations"]}[2]["logicalLocations"][0] == {
        "fullyQualifiedName": "t.example.net", "name": "t.example.net", "kind": "resource"}
    # Every rule's helpUri anchor is a section of docs/verdicts.md.
    doc = (REPO / "docs" / "verdicts.md").read_text()
    for rule in sarif["runs"][0]["tool"]["driver"]["rules"]:
        assert f"### {rule['id']}\n" in doc


SARIF_SCHEMA = REPO.parent / "shared" / "reference" / "sarif-schema-2.1.0.json"


@pytest.mark.skipif(not SARIF_SCHEMA.exists(), reason="../shared/reference not available")
def test_every_sarif_the_project_writes_validates_against_the_official_schema(report, sent_report):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    written = [render_sarif(report), render_sarif(sent_report), render_sarif(dict(report, findings=[], artifact=None))]
    written += [json.loads(p.read_text()) for p in sorted((REPO / "reports").glob("*.sarif"))]
    for sarif in written:
        errors = sorted(validator.iter_errors(sarif), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_html_groups_findings_by_type_and_actor_with_their_chain():
    path = ("Lorg/edukit/classroom/MainActivity;->onCreate(Landroid/os/Bundle;)V",
            "Lorg/edukit/classroom/DeviceInfo;->collect(Landroid/content/Context;)V")
    observations = (
        Observation("device_ids.imei", Level.REACHABLE, Actor(ActorKind.FIRST_PARTY), "static",
                    (Evidence("call-site", "Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;",
                              path[-1], path=path),)),)
    sent = Transmission("device_ids.imei", "r4", "t.example.net", "https", "POST", "/v1/c", ("body", "json.imei"),
                        value="35…0#", party="first")
    from audit.rules.engine import transmitted_observations
    audit = AuditInput("org.edukit.classroom", observations + tuple(transmitted_observations([sent])),
                       transmissions=(sent,), artifact="app.apk", captured=True)
    sheet = load_declarations(WEBEX / "datasheet.yaml")
    html = render_html(build_report(audit, sheet, evaluate(audit, sheet)).to_json())
    assert html.count('<h3 class="group">device_ids.imei · first-party</h3>') == 1
    assert "call path: Lorg/edukit/classroom/MainActivity;-&gt;onCreate" in html
    assert "POST https://t.example.net/v1/c" in html and "<code>body:json.imei</code>" in html and "35…0#" in html


def test_every_format_is_found_from_its_own_file_and_offered_by_the_cli(report):
    from audit.cli import build_parser
    from audit.report.formats import AuditReport, formats, render
    found = formats()
    audit_parser = build_parser()._subparsers._group_actions[0].choices["audit"]
    offered = next(a.choices for a in audit_parser._actions if a.dest == "format")
    assert sorted(found) == sorted(offered) == ["html", "json", "md", "sarif"]
    typed = AuditReport.from_json(report)
    assert typed.to_json() == report
    for name in found:
        assert render(typed, name)
