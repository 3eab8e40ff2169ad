"""The verdict model of docs/verdicts.md, tested as properties over the whole declaration x evidence grid, and
the chain rules: feasibility, one chain per (data type, actor), one fact per call site, conditional statements."""
from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from audit.catalogue import load_catalogue
from audit.model import Actor, ActorKind, Evidence, Feasibility, Level, Observation, Severity, Transmission
from audit.rules.declarations import Declarations, Statement, formats
from audit.rules.engine import (AuditInput, DetectedSdk, PermissionUse, evaluate, judge, load_checks,
                                transmitted_observations)
from audit.rules.inquiry import Claim, Inquiry, _gated, answer
from audit.static.apis import load_apis
from audit.static.feasibility import AppLevels
from audit.static.manifest import RequestedPermission

APP = Actor(ActorKind.FIRST_PARTY)
BRANCH = Actor(ActorKind.SDK, "branch")
LEVELS = [Level.PRESENT, Level.REACHABLE, Level.INVOKED, Level.TRANSMITTED]
GRANTED = Feasibility("granted", "install-time permission")
BLOCKED = Feasibility("blocked", "READ_PHONE_STATE is not requested", ("android.permission.READ_PHONE_STATE",))
SITE = Evidence("call-site", "Landroid/telephony/TelephonyManager;->getImei()Ljava/lang/String;",
                "Lorg/x/A;->f()V")


def sheet(*statements) -> Declarations:
    return Declarations("org.x", "test", "sheet.yaml", "appaudit-yaml", tuple(statements))


DECLARATIONS = {   # weakest position of the vendor first: what it says about device_ids.imei
    "collected": sheet(Statement("collected", "device_ids.imei", where="sheet.yaml:2")),
    "broad": sheet(Statement("collected", "device_ids", where="sheet.yaml:2")),
    "silent": sheet(),
    "denied": sheet(Statement("not_collected", "device_ids.imei", where="sheet.yaml:3")),
}


def ask(audit: AuditInput, *claims: Claim) -> list:
    """The inquiry's answers about `audit`, against an empty data sheet, in the claims' order."""
    return answer(Inquiry("t", None, claims, "c.yaml"), audit, sheet())


def observation(level: Level, actor: Actor, feasibility: Feasibility | None) -> Observation:
    third = actor.kind is ActorKind.SDK
    if level is Level.TRANSMITTED:
        return Observation("device_ids.imei", level, actor, "traffic", (Evidence("request", "r1", "query:imei"),),
                           actor.id if third else None, "third" if third else "first")
    return Observation("device_ids.imei", level, actor, "static", (SITE,), feasibility=feasibility)


def verdict(declared: str, level: Level, actor: Actor, feasibility: Feasibility | None, captured: bool = False):
    audit = AuditInput("org.x", (observation(level, actor, feasibility),), captured=captured)
    result = evaluate(audit, DECLARATIONS[declared])
    severity = max((f.severity for f in result.findings), default=0)
    return result.judgements[0].category, severity, result


GRID = list(itertools.product(DECLARATIONS, LEVELS, (APP, BRANCH), (GRANTED, None, BLOCKED)))


def test_severity_is_monotone_over_the_whole_grid():
    checks = load_checks()
    table = {cell: verdict(*cell)[:2] for cell in GRID}
    for declared, level, actor, feasibility in GRID:
        category, severity = table[(declared, level, actor, feasibility)]
        # A stronger level never lowers it.
        for stronger in LEVELS[LEVELS.index(level):]:
            assert table[(declared, stronger, actor, feasibility)][1] >= severity, (declared, level, stronger, actor)
        # A feasible capability never ranks below a refused one.
        assert table[(declared, level, actor, GRANTED)][1] >= table[(declared, level, actor, BLOCKED)][1]
    # A stronger contradiction never lowers it: collected <= broad <= silent <= denied, at every level and actor.
    order = list(DECLARATIONS)
    for level, actor, feasibility in itertools.product(LEVELS, (APP, BRANCH), (GRANTED, None)):
        severities = [table[(d, level, actor, feasibility)][1] for d in order]
        ranks = [checks.rank(table[(d, level, actor, feasibility)][0]) for d in order]
        assert severities == sorted(severities), (level, actor, severities)
        assert ranks == sorted(ranks), (level, actor, ranks)


def test_denial_is_contested_not_consistent_and_never_below_silence():
    for level, actor in itertools.product(LEVELS[:3], (APP, BRANCH)):
        category, severity, _ = verdict("denied", level, actor, GRANTED)
        assert category == "contested"
        assert severity >= verdict("silent", level, actor, GRANTED)[1] > 0
    assert verdict("denied", Level.TRANSMITTED, BRANCH, None)[0] == "contradicted"
    assert verdict("denied", Level.TRANSMITTED, BRANCH, None)[1] is Severity.HIGH


def test_blocked_capability_stays_low_and_says_why():
    for declared in ("silent", "denied"):
        category, severity, result = verdict(declared, Level.REACHABLE, BRANCH, BLOCKED)
        assert severity <= Severity.LOW
        assert all("Android refuses it to this app" in f.message for f in result.findings)
    # The denial holds as far as Android lets the code go: consistent, not contested.
    assert verdict("denied", Level.REACHABLE, APP, BLOCKED)[0] == "consistent"


def test_accesses_claim_on_a_fully_blocked_type_is_contradicted_with_the_reason():
    blocked = AuditInput("org.x", (observation(Level.REACHABLE, APP, BLOCKED),), static_scanned=True,
                         static_complete=True)
    claim = Claim("imei", "The app can access the IMEI", "accesses", "device_ids.imei")
    result = ask(blocked, claim)[0]
    assert result.verdict == "contradicted" and "READ_PHONE_STATE is not requested" in result.note
    # A partial scan may have missed a read Android allows: refused code then supports and contradicts nothing.
    partial = AuditInput("org.x", blocked.observations, static_scanned=True, static_complete=False)
    result = ask(partial, claim)[0]
    assert result.verdict == "inconclusive" and "static scan was incomplete" in result.note \
        and "READ_PHONE_STATE is not requested" in result.note
    granted = AuditInput("org.x", (observation(Level.REACHABLE, APP, GRANTED),))
    assert ask(granted, claim)[0].verdict == "supported"


def test_collecting_a_type_android_refuses_everywhere_is_contradicted_like_absence():
    """A collects/shares/bridges claim on a type whose every read is refused is contradicted, as when no code
    path and no permission exist (the missing permission holds for the code that is there); it stays inconclusive
    when the scan was partial, when any read is possible, and supported once the type was sent."""
    claims = (Claim("imei", "The app collects the IMEI", "collects", "device_ids.imei"),
              Claim("imei-to-branch", "The IMEI goes to Branch", "shares",
                    {"type": "device_ids.imei", "recipient": "branch"}),
              Claim("bridge", "The AAID is bridged with the IMEI", "bridges",
                    ["device_ids.advertising_id", "device_ids.imei"]))
    aaid = Observation("device_ids.advertising_id", Level.REACHABLE, BRANCH, "static", (SITE,),
                       feasibility=GRANTED)

    def verdicts(*observations, complete=True):
        audit = AuditInput("org.x", (aaid, *observations), static_scanned=True, static_complete=complete)
        return {r.claim.id: r for r in ask(audit, *claims)}

    refused = verdicts(observation(Level.REACHABLE, BRANCH, BLOCKED))
    for claim_id in ("imei", "imei-to-branch", "bridge"):
        assert refused[claim_id].verdict == "contradicted", claim_id
        assert "Android refuses it to this app: READ_PHONE_STATE is not requested" in refused[claim_id].note
        assert refused[claim_id].evidence == (SITE,)      # the refused code is shown, not hidden
    assert {r.verdict for r in verdicts(observation(Level.REACHABLE, BRANCH, BLOCKED), complete=False).values()} \
        == {"inconclusive"}
    either = verdicts(observation(Level.REACHABLE, BRANCH, BLOCKED), observation(Level.PRESENT, APP, GRANTED))
    assert {r.verdict for r in either.values()} == {"inconclusive"}
    sent = verdicts(observation(Level.REACHABLE, BRANCH, BLOCKED), observation(Level.TRANSMITTED, BRANCH, None))
    assert sent["imei"].verdict == sent["imei-to-branch"].verdict == "supported"


def test_every_type_only_a_permission_unlocks_is_gated_for_the_absence_rule():
    """A type every API of which needs a permission (rules/apis.yaml `access`) is unlocked by some permission in
    rules/permissions.yaml: else "no code path and no such permission" could never contradict a claim about it,
    and an app holding the permission would not count as able to read it (location.last_known was missing)."""
    unscanned = AuditInput("org.x")     # no scanned app: the permission table decides
    rules_of: dict[str, list] = {}
    for rule in load_apis():
        rules_of.setdefault(rule.data_type, []).append(rule)
    needs_permission = [t for t, rules in rules_of.items()
                        if all(item.any_of or item.all_of or item.special or item.system_only
                               for rule in rules for item in rule.access)]
    assert "location.last_known" in needs_permission and "device_time" not in needs_permission
    assert [t for t in needs_permission if not _gated(unscanned, t)] == []


@pytest.mark.parametrize("target, requested, expected", [
    (28, (), "inconclusive"),                     # no permission below target 33: no code found is no proof
    (33, (), "contradicted"),                     # AD_ID needed and not requested
    (33, ("com.google.android.gms.permission.AD_ID",), "inconclusive")])
def test_whether_a_missing_code_path_contradicts_depends_on_what_the_app_needs_to_read_it(target, requested,
                                                                                           expected):
    """An app targeting API 32 or lower reads the advertising ID without any permission (AD_ID is needed from
    target 33), so a scan that found no read of it (a renamed or reflective client is not found by name, as in
    StatusSaver's AdMob build) cannot contradict "the app collects the advertising ID": the absence rule judged
    the type guarded because the permission table names AD_ID at all. It asks the API rules with the app's own
    levels and no permission instead."""
    levels = AppLevels(21, target, tuple(RequestedPermission(p) for p in requested))
    permissions = tuple(PermissionUse(p, "normal", ("device_ids.advertising_id",)) for p in requested)
    audit = AuditInput("org.x", static_scanned=True, static_complete=True, app_levels=levels,
                       permissions=permissions)
    claim = Claim("aaid", "The app collects the advertising ID", "collects", "device_ids.advertising_id")
    result = ask(audit, claim)[0]
    assert result.verdict == expected, result.note
    if target < 33:
        assert ("Android gives device_ids.advertising_id without a permission (gms.advertising_id_client.get_info"
                in result.note and result.note.endswith("so finding no known API is not proof of absence"))


def test_fine_location_unlocks_everything_coarse_location_does():
    """Android gives an app holding ACCESS_FINE_LOCATION whatever ACCESS_COARSE_LOCATION gives: a claim that the
    app collects coarse location is not contradicted for an app that holds only FINE and reads a precise fix."""
    from audit.rulesdata import load_yaml, rules_dir
    table = load_yaml(rules_dir() / "permissions.yaml")["permissions"]
    fine, coarse = (set(table[f"android.permission.ACCESS_{kind}_LOCATION"]["data_types"])
                    for kind in ("FINE", "COARSE"))
    assert coarse <= fine


def test_a_permission_the_api_rules_name_for_a_type_keeps_its_absence_from_contradicting():
    """ACCESS_FINE_LOCATION is listed for location, but rules/apis.yaml says it also lets an app read the cell
    towers (getAllCellInfo from API 29): an app holding it, with no code path found, is not said to be unable to
    collect cell information; without any such permission, it is."""
    claim = Claim("cells", "The app collects cell tower information", "collects", "network.cell_info")
    fine = PermissionUse("android.permission.ACCESS_FINE_LOCATION", "dangerous", ("location.precise",))
    internet = PermissionUse("android.permission.INTERNET", "normal")

    def verdict(*permissions):
        audit = AuditInput("org.x", (), permissions=permissions, static_scanned=True, static_complete=True)
        return ask(audit, claim)[0].verdict

    assert verdict(internet) == "contradicted"
    assert verdict(internet, fine) == "inconclusive"


def test_no_transmission_is_said_only_after_a_capture():
    _, _, static = verdict("silent", Level.REACHABLE, BRANCH, GRANTED)
    assert "no capture was analysed" in static.findings[0].message
    _, _, captured = verdict("silent", Level.REACHABLE, BRANCH, GRANTED, captured=True)
    assert "show no transmission of it to" in captured.findings[0].message


def test_request_without_stack_joins_the_chain_of_the_sdk_owning_its_host():
    sent = Transmission("device_ids.advertising_id", "r1", "api2.branch.io", "https", "POST", "/v1/open",
                        ("body", "json.advertising_ids"), recipient="branch", party="third")
    code = Observation("device_ids.advertising_id", Level.REACHABLE, BRANCH, "static", (SITE,))
    judgements, _ = judge([code, *transmitted_observations([sent])], sheet())
    assert len(judgements) == 1
    chain = judgements[0]
    assert chain.actor == BRANCH and chain.level is Level.TRANSMITTED and chain.recipient == "branch"
    assert {e.kind for e in chain.evidence} == {"call-site", "request"}
    request = next(e for e in chain.evidence if e.kind == "request")
    assert request.where == "body:json.advertising_ids" and "POST https://api2.branch.io/v1/open" in request.detail


def test_location_family_collapses_to_the_most_specific_feasible_type_per_call_site():
    site = "Lorg/x/Loc;->last()V"
    api = "Landroid/location/LocationManager;->getLastKnownLocation(Ljava/lang/String;)Landroid/location/Location;"
    lat = Evidence("call-site", "Landroid/location/Location;->getLatitude()D", site)
    fine_blocked = Feasibility("blocked", "ACCESS_FINE_LOCATION is not requested")

    def observations(precise_feasibility):
        return [Observation("location", Level.REACHABLE, APP, "static", (lat,)),
                Observation("location.last_known", Level.REACHABLE, APP, "static", (Evidence("call-site", api, site),),
                            feasibility=GRANTED),
                Observation("location.precise", Level.REACHABLE, APP, "static", (Evidence("call-site", api, site),),
                            feasibility=precise_feasibility)]

    judged, _ = judge(observations(GRANTED), sheet())
    assert [(j.data_type, len(j.evidence)) for j in judged] == [("location.precise", 2)]
    judged, _ = judge(observations(fine_blocked), sheet())
    assert [j.data_type for j in judged] == ["location.last_known"]
    findings = evaluate(AuditInput("org.x", tuple(observations(GRANTED))), sheet()).findings
    assert len(findings) == 1


def test_conditional_statement_covers_what_fits_and_says_so():
    driving = Statement("collected", "location.precise", where="sheet.yaml:5", when=(("feature", "driving mode"),))
    denial = Statement("not_collected", "location", where="sheet.yaml:9")
    seen = Observation("location.precise", Level.REACHABLE, APP, "static", (SITE,))
    judged, _ = judge([seen], sheet(driving, denial))
    assert judged[0].category == "consistent" and judged[0].condition == "driving mode was on"
    # A permission condition covers only reads that need that permission.
    contacts = Statement("collected", "contacts", where="s:1", when=(("permission", "android.permission.READ_CONTACTS"),))
    needs = Feasibility("runtime-permission", "asks", ("android.permission.READ_CONTACTS",))
    other = Feasibility("runtime-permission", "asks", ("android.permission.WRITE_CONTACTS",))
    read = Observation("contacts", Level.REACHABLE, APP, "static", (SITE,), feasibility=needs)
    assert judge([read], sheet(contacts))[0][0].category == "consistent"
    assert judge([Observation("contacts", Level.REACHABLE, APP, "static", (SITE,), feasibility=other)],
                 sheet(contacts))[0][0].category == "omitted"
    # A platform condition for another platform does not apply.
    ios = Statement("collected", "contacts", where="s:2", when=(("platform", "ios"),))
    assert judge([read], sheet(ios))[0][0].category == "omitted"


def test_permission_check_never_contradicts_a_statement_of_the_sheet():
    perms = (PermissionUse("android.permission.READ_PHONE_STATE", "dangerous", ("device_ids.imei",)),)
    denied = evaluate(AuditInput("org.x", permissions=perms), DECLARATIONS["denied"])
    assert not [f for f in denied.findings if f.rule == "dangerous-permission-undeclared"]
    silent = evaluate(AuditInput("org.x", permissions=perms), DECLARATIONS["silent"])
    assert [f.rule for f in silent.findings] == ["dangerous-permission-undeclared"]


@pytest.mark.parametrize("category", ["consistent", "vague", "omitted", "contested", "contradicted",
                                      "overdeclared"])
def test_every_category_has_a_colour_and_a_documented_section(category):
    from pathlib import Path
    checks = load_checks()
    assert category in checks.colours()
    doc = (Path(__file__).resolve().parents[1] / "docs" / "verdicts.md").read_text()
    assert f"`{category}`" in doc


def test_a_specific_denial_beats_a_broader_positive_statement():
    broad_yes = Statement("collected", "location", where="sheet.yaml:2")
    precise_no = Statement("not_collected", "location.precise", where="sheet.yaml:3")
    seen = Observation("location.precise", Level.REACHABLE, APP, "static", (SITE,), feasibility=GRANTED)
    judged, _ = judge([seen], sheet(broad_yes, precise_no))
    assert judged[0].category == "contested" and judged[0].declaration == (precise_no,)
    coarse = Observation("location.approximate", Level.REACHABLE, APP, "static", (SITE,))
    assert judge([coarse], sheet(broad_yes, precise_no))[0][0].category == "vague"


def test_reports_say_why_a_refused_or_conditional_chain_is_judged_so():
    _, _, result = verdict("denied", Level.REACHABLE, APP, BLOCKED)
    row = result.data_types(DECLARATIONS["denied"])["device_ids.imei"]
    assert row["category"] == "consistent"
    assert row["notes"] == ["first-party: consistent: the code is there; Android refuses it to this app "
                            "(READ_PHONE_STATE is not requested)"]


def test_collapse_prefers_the_type_the_sheet_names_and_never_makes_it_overdeclared():
    api = "Landroid/location/LocationManager;->getLastKnownLocation(Ljava/lang/String;)Landroid/location/Location;"
    site = Evidence("call-site", api, "Lorg/x/Loc;->last()V")
    reads = [Observation("location.last_known", Level.REACHABLE, APP, "static", (site,), feasibility=GRANTED),
             Observation("location.precise", Level.REACHABLE, APP, "static", (site,), feasibility=GRANTED)]
    declared = sheet(Statement("collected", "location.last_known", where="sheet.yaml:2"))
    judged, overdeclared = judge(reads, declared)
    assert [(j.data_type, j.category) for j in judged] == [("location.last_known", "consistent")]
    assert overdeclared == []


def test_an_sdk_the_app_names_without_its_code_is_not_contradicted_by_a_complete_scan():
    """A complete scan that found none of an SDK's classes contradicted "the app embeds it" even where the app
    names its hosts or manifest keys (a hint): obfuscation that renamed the code leaves exactly that, so the
    claim is inconclusive and the note shows what the app names. Without a hint it stays contradicted."""
    claim = Claim("ima", "The app embeds Google's IMA SDK", "embeds", "google_ima")
    host = Evidence("host", "imasdk.googleapis.com", "dex", "host named in a string constant")
    named = AuditInput("org.x", static_scanned=True, static_complete=True,
                       sdk_hints=(DetectedSdk("google_ima", "Google Interactive Media Ads (IMA) SDK", (host,)),))
    result = ask(named, claim)[0]
    assert result.verdict == "inconclusive" and "host imasdk.googleapis.com" in result.note
    assert result.evidence == (host,)
    silent = AuditInput("org.x", static_scanned=True, static_complete=True)
    assert ask(silent, claim)[0].verdict == "contradicted"


def test_an_sdk_known_by_its_hosts_alone_is_never_contradicted_by_a_scan():
    """Unity Analytics lives in the Unity engine's native code, Hotjar and CrowdTangle are known by their hosts:
    the catalogue gives the scan no class or manifest key to find them by, so a complete scan that found none
    contradicted "the app embeds it" for any app, a Unity game among them. Only traffic to their hosts shows
    them: without it the claim is inconclusive, and the note says why. A family with such a member (`unity`:
    Unity Ads has classes, Unity Analytics none) is not contradicted either."""
    catalogue = load_catalogue()
    hosts_only = [s for s in catalogue.sdks if not s.packages and not s.manifest_keys]
    assert {s.id for s in hosts_only} >= {"unity_analytics"}
    silent = AuditInput("org.x", static_scanned=True, static_complete=True)
    for sdk in hosts_only:
        result = ask(silent, Claim("sdk", f"The app embeds {sdk.name}", "embeds", sdk.id))[0]
        assert result.verdict == "inconclusive", (sdk.id, result.note)
        assert sdk.hosts[0] in result.note and "no Java classes or manifest keys" in result.note, result.note
    assert ask(silent, Claim("sdk", "The app embeds Unity", "embeds", "unity"))[0].verdict == "inconclusive"
    assert ask(silent, Claim("sdk", "The app embeds Unity Ads", "embeds", "unity_ads"))[0].verdict == "contradicted"


def test_an_app_sharing_a_user_id_is_not_contradicted_for_a_permission_it_does_not_request():
    """Another package of a shared user id may hold the permission this app does not request (feasibility says
    `unknown` then): its absence is no second signal, so a missing code path does not contradict."""
    claim = Claim("imei", "The app collects the IMEI", "collects", "device_ids.imei")

    def result(shared):
        audit = AuditInput("org.x", static_scanned=True, static_complete=True,
                           app_levels=AppLevels(23, 30, (), shared_user_id=shared))
        return ask(audit, claim)[0].verdict

    assert result(None) == "contradicted"
    assert result("org.x.shared") == "inconclusive"


def test_the_camera_is_its_own_type_apart_from_the_photos_a_gallery_query_reads():
    """"The app accesses users' cameras" was answered on photos_videos, which holds the media store too: an app
    installing on API 18 or lower reads the gallery without any permission there, so for 10 corpus apps that
    neither open the camera nor request CAMERA the claim became inconclusive. The camera's APIs now yield
    photos_videos.camera, which only CAMERA unlocks (Play and Apple labels map to both types: no store label is
    finer)."""
    camera_apis = {r.id: r.data_type for r in load_apis() if r.access_name == "camera"}
    assert camera_apis and set(camera_apis.values()) == {"photos_videos.camera"}
    old_app = AppLevels(16, 28, ())
    audit = AuditInput("org.x", static_scanned=True, static_complete=True, app_levels=old_app)
    camera = Claim("camera", "The app accesses users' cameras", "accesses", "photos_videos.camera")
    gallery = Claim("photos", "The app accesses users' photos", "accesses", "photos_videos")
    verdicts = {r.claim.id: r.verdict for r in ask(audit, camera, gallery)}
    assert verdicts == {"camera": "contradicted", "photos": "inconclusive"}
    store = formats()
    for labels in (store["play"]["types"]["PSL_PHOTOS"], store["play"]["types"]["PSL_VIDEOS"],
                   store["apple"]["types"]["NSPrivacyCollectedDataTypePhotosorVideos"]):
        assert "photos_videos.camera" in labels and "photos_videos" in labels


@pytest.mark.parametrize("requested, claim_type, expected", [
    ((), "device_ids.imei", "contradicted"),                              # READ_PHONE_STATE on every level
    (("android.permission.READ_PHONE_STATE",), "device_ids.imei", "inconclusive"),
    ((), "device_ids.advertising_id", "inconclusive")])                   # target 30: no permission needed
def test_a_scan_that_did_not_read_everything_still_contradicts_what_android_refuses(requested, claim_type,
                                                                                     expected):
    """A scan that left something out (a dex, the splits a base needs, the time limit) read the base manifest
    whole: where Android refuses every API that yields the type to this app, no code, read or not, obtains it,
    and the claim is contradicted. It was inconclusive for every such scan (a base pulled without its splits
    among them)."""
    levels = AppLevels(23, 30, tuple(RequestedPermission(p) for p in requested))
    audit = AuditInput("org.x", static_scanned=True, static_complete=False, app_levels=levels,
                       permissions=tuple(PermissionUse(p, "dangerous", (claim_type,)) for p in requested))
    claim = Claim("c", "The app collects it", "collects", claim_type)
    result = ask(audit, claim)[0]
    assert result.verdict == expected, result.note
    if expected == "contradicted":
        assert "the scan did not read everything" in result.note


def test_a_handover_keeps_a_contradiction_only_where_the_scan_would_have_found_it():
    """The contact picker, the photo picker and the SMS Retriever hand an app one item without the permission
    (rules/apis.yaml `handover`). A complete scan finds them by framework names and strings renaming keeps: with
    none found and no permission requested, "collects contacts" stays contradicted. One found makes the claim
    inconclusive for collection (only what the user picks) and supports access. A scan that did not read
    everything may have missed one: no contradiction. Play services' phone number hint is found by its client's
    name, which minification may rename: in an app that links Play services (its manifest key) no permission
    guards the number, and a missing code path does not contradict "collects users' phone numbers"; in one that
    does not, the hint cannot be there."""
    levels = AppLevels(23, 33, ())
    contacts = Claim("contacts", "The app collects information about users' contacts", "collects", "contacts")
    reads = Claim("reads", "The app accesses users' contacts", "accesses", "contacts")
    sms = Claim("sms", "The app collects users' text messages", "collects", "sms")
    number = Claim("number", "The app collects users' phone numbers", "collects", "personal_info.phone_number")

    def verdicts(*observations, complete=True, keys=()):
        audit = AuditInput("org.x", tuple(observations), static_scanned=True, static_complete=complete,
                           app_levels=levels, manifest_keys=keys)
        return {r.claim.id: r.verdict for r in ask(audit, contacts, reads, sms, number)}

    assert verdicts() == {"contacts": "contradicted", "reads": "contradicted", "sms": "contradicted",
                          "number": "contradicted"}
    assert verdicts(keys=("com.google.android.gms.version",))["number"] == "inconclusive"
    picker = Observation("contacts", Level.REACHABLE, APP, "static", (Evidence(
        "call-site", "Landroid/content/Intent;-><init>(Ljava/lang/String;Landroid/net/Uri;)V", "Lorg/x/A;->f()V"),),
        feasibility=Feasibility("granted", "no permission needed: only the contact the user picks"))
    # a picked contact is neither collection nor an access of the app's own: inconclusive, saying what it gets
    assert verdicts(picker) == {"contacts": "inconclusive", "reads": "inconclusive", "sms": "contradicted",
                                "number": "contradicted"}
    picked = AuditInput("org.x", (picker,), static_scanned=True, static_complete=True, app_levels=levels)
    for result in ask(picked, contacts, reads):
        assert "Android: no permission needed: only the contact the user picks" in result.note, result.note
    assert "no access of the app's own" in ask(picked, reads)[0].note
    query = replace(picker, evidence=(SITE,), feasibility=GRANTED)   # with a read of its own, access is supported
    audit = AuditInput("org.x", (picker, query), static_scanned=True, static_complete=True, app_levels=levels)
    assert ask(audit, reads)[0].verdict == "supported"
    assert verdicts(complete=False) == {"contacts": "inconclusive", "reads": "inconclusive",
                                        "sms": "inconclusive", "number": "contradicted"}
    assert verdicts(complete=False, keys=("com.google.android.gms.version",))["number"] == "inconclusive"
    handovers = [r for r in load_apis() if r.handover]
    assert {r.data_type for r in handovers} >= {"contacts", "photos_videos", "sms", "personal_info.phone_number",
                                                "personal_info.accounts"}
    # the accounts on the device: only GET_ACCOUNTS (target 25-) or READ_CONTACTS show other apps' accounts from
    # API 26; the platform's account picker is found by name, Play services' AccountPicker may have been renamed
    accounts = Claim("accounts", "The app collects the accounts on the device", "collects", "personal_info.accounts")
    for keys, expected in (((), "contradicted"), (("com.google.android.gms.version",), "inconclusive")):
        audit = AuditInput("org.x", static_scanned=True, static_complete=True, app_levels=AppLevels(26, 30, ()),
                           manifest_keys=keys)
        assert ask(audit, accounts)[0].verdict == expected


@pytest.mark.parametrize("min_sdk, requested, claim_type, expected", [
    (23, ("WRITE_EXTERNAL_STORAGE",), "photos_videos.camera", "contradicted"),   # storage unlocks no camera
    (23, ("CAMERA",), "photos_videos.camera", "inconclusive"),
    (30, ("READ_PHONE_STATE",), "personal_info.phone_number", "contradicted"),   # READ_PHONE_NUMBERS from API 30
    (23, ("READ_PHONE_STATE",), "personal_info.phone_number", "inconclusive"),   # enough on API 23-29
    (23, ("ACCESS_FINE_LOCATION",), "network.cell_info", "inconclusive")])       # getAllCellInfo with FINE
def test_a_missing_code_path_weighs_the_permissions_as_android_judges_them_for_this_app(min_sdk, requested,
                                                                                         claim_type, expected):
    """A complete scan with no code path for the type: whether the permissions the app requests unlock it is
    judged API by API with the app's levels, as for a partial scan. It was asked of the permission table and of
    every permission an API rule of the type, a narrower or a broader one, names: WRITE_EXTERNAL_STORAGE (the
    gallery, a broader type) kept "accesses the camera" from being contradicted (DroidBoxTests), and
    READ_PHONE_STATE "collects the phone number" for an app installing only on API 30+."""
    levels = AppLevels(min_sdk, 33, tuple(RequestedPermission("android.permission." + p) for p in requested))
    permissions = tuple(PermissionUse("android.permission." + p, "dangerous", ()) for p in requested)
    audit = AuditInput("org.x", static_scanned=True, static_complete=True, app_levels=levels,
                       permissions=permissions)
    result = ask(audit, Claim("c", "The app collects it", "collects", claim_type))[0]
    assert result.verdict == expected, result.note


def test_a_handover_barely_contests_a_denial():
    """The vendor says it does not collect contacts; the app opens the contact picker. The capability contests the
    denial, but what Android hands over is the contact the user picks: the finding says so and is capped as a
    refused capability is. A query of the app's own beside it decides the chain."""
    picked = Feasibility("granted", "no permission needed: only the contact the user picks in the system picker")
    denial = sheet(Statement("not_collected", "contacts", where="sheet.yaml:2"))

    def findings(*feasibilities):
        observations = tuple(Observation("contacts", Level.REACHABLE, APP, "static", (SITE,), feasibility=f)
                             for f in feasibilities)
        result = evaluate(AuditInput("org.x", observations), denial)
        (judgement,) = result.judgements
        return judgement, max(f.severity for f in result.findings), " ".join(f.message for f in result.findings)

    judgement, severity, message = findings(picked)
    assert judgement.category == "contested" and judgement.handed_over and severity <= Severity.LOW
    assert "only the contact the user picks" in message and "only the contact the user picks" in judgement.note()
    judgement, severity, _message = findings(picked, GRANTED)
    assert not judgement.handed_over and severity > Severity.LOW
