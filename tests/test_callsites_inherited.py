"""Call sites reached by inheritance: d8 names a call with the receiver's static type, so `this.managedQuery(..)` in
an Activity subclass is `invoke-virtual {p0}, Lcom/app/Main;->managedQuery(..)`. The matcher resolves such a
reference up the superclasses the app's dexes define (every dex) to the class a rule names, unless a class of the
app on the way declares the method (then the call runs the app's code, not the API). Dex files assembled here
with smali; one test scans a whole APK built with aapt."""
from __future__ import annotations

import pytest
from smali_builds import build_apk, launcher_manifest, require_tools
from test_callsites import _assemble

from audit.static.apis import ApiRule, load_apis
from audit.static.callsites import CodeIndex, _raw_sites, find_call_sites
from audit.static.dex import DexFile

PKG = "com/example/inherit"
QUERY_PROTO = ("(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)"
               "Landroid/database/Cursor;")
# Activity.managedQuery is not in rules/apis.yaml (yet): the tests add a rule of their own for it, as the map
# would write it (the declaring platform class, a content URI condition)
MANAGED_QUERY = ApiRule(id="activity.managed_query.contacts", class_name="android.app.Activity", data_type="contacts",
                        returns="none", method="managedQuery", args_any=("content://com.android.contacts",))
RULES = (*load_apis(), MANAGED_QUERY)
ACTIVITY_QUERY = f"Landroid/app/Activity;->managedQuery{QUERY_PROTO}"


def _class(name: str, superclass: str, *methods: str, flags: str = "public", interfaces: tuple[str, ...] = ()) -> str:
    head = [f".class {flags} L{name};", f".super {superclass}"]
    head += [f".implements {i}" for i in interfaces]
    return "\n".join(head) + "\n\n" + "\n".join(methods)


def _query_via(owner: str, method: str = "load", invoke: str = "invoke-virtual/range") -> str:
    """A method calling managedQuery (contacts URI) on `this`, the reference naming class `owner`."""
    params, ret = ("", "V") if method == "load" else (QUERY_PROTO[1:QUERY_PROTO.index(")")], "Landroid/database/Cursor;")
    end = "return-void" if ret == "V" else "move-result-object v0\n    return-object v0"
    return f""".method public {method}({params}){ret}
    .registers 12
    move-object v0, p0
    const-string v1, "content://com.android.contacts/contacts"
    invoke-static {{v1}}, Landroid/net/Uri;->parse(Ljava/lang/String;)Landroid/net/Uri;
    move-result-object v1
    const/4 v2, 0x0
    const/4 v3, 0x0
    const/4 v4, 0x0
    const/4 v5, 0x0
    {invoke} {{v0 .. v5}}, {owner}->managedQuery{QUERY_PROTO}
    {end}
.end method
"""


def _own_query(body: str = "const/4 v0, 0x0\n    return-object v0") -> str:
    """The class's own managedQuery (an override)."""
    return f""".method public managedQuery{QUERY_PROTO}
    .registers 8
    {body}
.end method
"""


OVERLOAD = """.method public managedQuery(I)Landroid/database/Cursor;
    .registers 3
    const/4 v0, 0x0
    return-object v0
.end method

.method public byNumber()V
    .registers 3
    const-string v0, "content://com.android.contacts/x"
    const/4 v1, 0x1
    invoke-virtual {p0, v1}, Lcom/example/inherit/Overload;->managedQuery(I)Landroid/database/Cursor;
    return-void
.end method
"""

RESOLVER = f""".method public resolver()V
    .registers 12
    invoke-virtual {{p0}}, L{PKG}/Main;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v0
    const-string v1, "content://com.android.contacts/contacts"
    invoke-static {{v1}}, Landroid/net/Uri;->parse(Ljava/lang/String;)Landroid/net/Uri;
    move-result-object v1
    const/4 v2, 0x0
    const/4 v3, 0x0
    const/4 v4, 0x0
    const/4 v5, 0x0
    invoke-virtual/range {{v0 .. v5}}, Landroid/content/ContentResolver;->query{QUERY_PROTO}
    return-void
.end method
"""

LOCATION = """.method public where(Lcom/example/inherit/Fix;Lcom/example/inherit/LocApi;Lcom/example/inherit/Partial;)D
    .registers 8
    invoke-virtual {p1}, Lcom/example/inherit/Fix;->getLatitude()D
    move-result-wide v0
    const/4 v2, 0x0
    invoke-interface {p2, v2}, Lcom/example/inherit/LocApi;->getLastLocation(Lcom/google/android/gms/common/api/GoogleApiClient;)Landroid/location/Location;
    invoke-virtual {p3, v2}, Lcom/example/inherit/Partial;->getLastLocation(Lcom/google/android/gms/common/api/GoogleApiClient;)Landroid/location/Location;
    return-wide v0
.end method
"""

GMS_API = ".method public abstract getLastLocation(Lcom/google/android/gms/common/api/GoogleApiClient;)Landroid/location/Location;\n.end method\n"
ACTIVITY = "Landroid/app/Activity;"

# (file, smali) per class; FIRST_DEX: the classes assembled into classes.dex, the others into classes2.dex, so every
# inheritance below crosses from one dex to the other at least once
SOURCES = {
    f"{PKG}/Main": _class(f"{PKG}/Main", ACTIVITY, _query_via(f"L{PKG}/Main;"), RESOLVER),
    f"{PKG}/Base": _class(f"{PKG}/Base", ACTIVITY),
    f"{PKG}/Screen": _class(f"{PKG}/Screen", f"L{PKG}/Base;", _query_via(f"L{PKG}/Screen;")),
    # overrides and calls super: the super call names Base, and runs Activity's managedQuery
    f"{PKG}/Deeper": _class(f"{PKG}/Deeper", f"L{PKG}/Base;",
                            _query_via(f"L{PKG}/Base;", method="managedQuery", invoke="invoke-super/range")),
    # overrides (calling super, named Activity): its callers run the app's code, which makes the platform call
    f"{PKG}/Custom": _class(f"{PKG}/Custom", ACTIVITY,
                            _query_via(ACTIVITY, method="managedQuery", invoke="invoke-super/range"),
                            _query_via(f"L{PKG}/Custom;")),
    f"{PKG}/SubCustom": _class(f"{PKG}/SubCustom", f"L{PKG}/Custom;", _query_via(f"L{PKG}/SubCustom;")),
    # declares another overload only: the call with the platform's proto still reaches the platform
    f"{PKG}/Overload": _class(f"{PKG}/Overload", ACTIVITY, OVERLOAD, _query_via(f"L{PKG}/Overload;")),
    # a library class (in the dex) between the app class and the platform
    "androidx/lib/LibActivity": _class("androidx/lib/LibActivity", ACTIVITY),
    f"{PKG}/OnLib": _class(f"{PKG}/OnLib", "Landroidx/lib/LibActivity;", _query_via(f"L{PKG}/OnLib;")),
    "androidx/lib/Wrapping": _class("androidx/lib/Wrapping", ACTIVITY, _own_query()),
    f"{PKG}/OnWrapping": _class(f"{PKG}/OnWrapping", "Landroidx/lib/Wrapping;", _query_via(f"L{PKG}/OnWrapping;")),
    # extends a class no dex defines and no rule names (a library left out of the APK)
    f"{PKG}/Plugin": _class(f"{PKG}/Plugin", "Lcom/vendor/missing/Host;", _query_via(f"L{PKG}/Plugin;")),
    # a rule of the real map reached through an app subclass, and an interface rule through a sub-interface
    f"{PKG}/Fix": _class(f"{PKG}/Fix", "Landroid/location/Location;"),
    "com/google/android/gms/location/FusedLocationProviderApi": _class(
        "com/google/android/gms/location/FusedLocationProviderApi", "Ljava/lang/Object;", GMS_API,
        flags="public interface abstract"),
    f"{PKG}/LocApi": _class(f"{PKG}/LocApi", "Ljava/lang/Object;", flags="public interface abstract",
                            interfaces=("Lcom/google/android/gms/location/FusedLocationProviderApi;",)),
    # implements the interface but leaves the method to its subclasses (app code): not the API
    f"{PKG}/Partial": _class(f"{PKG}/Partial", "Ljava/lang/Object;", flags="public abstract",
                             interfaces=("Lcom/google/android/gms/location/FusedLocationProviderApi;",)),
    f"{PKG}/Tracker": _class(f"{PKG}/Tracker", "Ljava/lang/Object;", LOCATION),
}
FIRST_DEX = {f"{PKG}/Base", "androidx/lib/LibActivity", "androidx/lib/Wrapping", f"{PKG}/Custom",
             "com/google/android/gms/location/FusedLocationProviderApi"}


@pytest.fixture(scope="module")
def fixture_dexes(tmp_path_factory) -> list[DexFile]:
    require_tools(aapt=False)
    work = tmp_path_factory.mktemp("inherit")
    return [_assemble({k: v for k, v in SOURCES.items() if k in FIRST_DEX}, work / "classes.dex"),
            _assemble({k: v for k, v in SOURCES.items() if k not in FIRST_DEX}, work / "classes2.dex")]


def _sites(dexes):
    return {(s.api_id, s.caller.split(";->")[0].rsplit("/", 1)[1], s.caller.split("->")[1].split("(")[0], s.api)
            for s in find_call_sites(dexes, RULES, app_package="com.example.inherit")}


def test_calls_on_this_in_activity_subclasses_are_the_platform_call(fixture_dexes):
    queries = {(cls, method, api) for api_id, cls, method, api in _sites(fixture_dexes)
               if api_id == "activity.managed_query.contacts"}
    assert queries == {
        ("Main", "load", ACTIVITY_QUERY),        # this.managedQuery in an Activity subclass
        ("Screen", "load", ACTIVITY_QUERY),      # two app classes up
        ("Deeper", "managedQuery", ACTIVITY_QUERY),  # super.managedQuery naming the app superclass
        ("Overload", "load", ACTIVITY_QUERY),    # its own managedQuery(int) is another method
        ("OnLib", "load", ACTIVITY_QUERY),       # through a library class the dex defines
        ("Custom", "managedQuery", ACTIVITY_QUERY),  # the override's own super call (named Activity: as before)
    }
    # not there: Custom.load and SubCustom.load run Custom's override, OnWrapping.load the library's override
    # (which never calls the platform), Overload.byNumber its own overload, Plugin.load a class of a library
    # missing from the APK
    # getContentResolver() on `this`, then query on the resolver: the query names ContentResolver, as before
    assert ("content_resolver.query.contacts", "Main", "resolver",
            f"Landroid/content/ContentResolver;->query{QUERY_PROTO}") in _sites(fixture_dexes)


def test_a_map_rule_through_an_app_subclass_and_an_interface_rule_through_a_sub_interface(fixture_dexes):
    got = {(api_id, cls, method, api) for api_id, cls, method, api in _sites(fixture_dexes) if cls == "Tracker"}
    assert got == {
        ("location.get_latitude", "Tracker", "where", "Landroid/location/Location;->getLatitude()D"),
        ("fused_location_api.get_last_location", "Tracker", "where",
         "Lcom/google/android/gms/location/FusedLocationProviderApi;->getLastLocation"
         "(Lcom/google/android/gms/common/api/GoogleApiClient;)Landroid/location/Location;")}
    # (Partial.getLastLocation is abstract there: it runs an app subclass's code, not counted)


def test_a_rule_signature_must_equal_the_proto_of_the_inherited_reference(fixture_dexes):
    other = ApiRule(id="activity.managed_query.int", class_name="android.app.Activity", data_type="contacts",
                    returns="none", method="managedQuery", signature="(I)Landroid/database/Cursor;")
    exact = ApiRule(id="activity.managed_query.exact", class_name="android.app.Activity", data_type="contacts",
                    returns="none", method="managedQuery", signature=QUERY_PROTO)
    sites = find_call_sites(fixture_dexes, (other, exact), app_package="com.example.inherit")
    assert {s.api_id for s in sites} == {"activity.managed_query.exact"}
    assert {s.caller.split(";->")[0].rsplit("/", 1)[1] for s in sites} == {
        "Main", "Screen", "Deeper", "Overload", "OnLib", "Custom"}


def _chain(n: int) -> dict[str, str]:
    """n app classes, each extending the one before (the first extends Activity), each calling this.managedQuery."""
    out = {}
    for i in range(n):
        parent = ACTIVITY if i == 0 else f"L{PKG}/C{i - 1};"
        out[f"{PKG}/C{i}"] = _class(f"{PKG}/C{i}", parent, _query_via(f"L{PKG}/C{i};"))
    return out


def test_resolution_work_is_linear_in_the_classes(tmp_path):
    """Each class is resolved once per member, however many references and subclasses ask: a chain 4x as long
    costs 4x the steps (a walk per reference would cost 16x)."""
    require_tools(aapt=False)
    steps, found = {}, {}
    for n in (10, 40):
        index = CodeIndex([_assemble(_chain(n), tmp_path / f"chain{n}.dex")])
        found[n] = {s.caller for s in _raw_sites(index, (MANAGED_QUERY,))}
        steps[n] = index.inherit_steps
    assert len(found[10]) == 10 and len(found[40]) == 40
    assert steps[10] >= 10 and steps[40] <= 4 * steps[10] + 4


MANIFEST = launcher_manifest("com.example.inherit", min_sdk=23, launcher="com.example.inherit.Main",
                             permissions=("android.permission.ACCESS_FINE_LOCATION",))


def test_a_whole_scan_reports_the_inherited_call_with_its_verdict(tmp_path):
    """The full pipeline (attribution, paths, feasibility, report) takes the resolved platform method."""
    require_tools()
    from audit.static.scan import scan_app
    report = scan_app([build_apk(tmp_path, MANIFEST, SOURCES, name="inherit")])
    latitude = [c for c in report.api_calls if c.api_id == "location.get_latitude"]
    assert [(c.api, c.caller, str(c.actor)) for c in latitude] == [(
        "Landroid/location/Location;->getLatitude()D",
        f"L{PKG}/Tracker;->where(L{PKG}/Fix;L{PKG}/LocApi;L{PKG}/Partial;)D", "first-party")]
    assert latitude[0].feasibility is not None and latitude[0].feasibility.status == "runtime-permission"
    assert "location" in {o.data_type.split(".")[0] for o in report.observations}


def test_an_interface_extending_more_interfaces_than_the_limit_is_cut_and_counted(tmp_path):
    """Super-interfaces are followed up to MAX_HIERARCHY per interface (a dex may share one huge list among many
    interfaces: following all of it for each would be quadratic); a cut is counted, which marks the scan partial."""
    require_tools(aapt=False)
    from audit.static.callsites import MAX_HIERARCHY
    gms = "Lcom/google/android/gms/location/FusedLocationProviderApi;"
    many = tuple(f"L{PKG}/I{i};" for i in range(MAX_HIERARCHY + 50))
    call = """.method public static last(L{0};)V
    .registers 2
    const/4 v0, 0x0
    invoke-interface {{p0, v0}}, L{0};->getLastLocation(Lcom/google/android/gms/common/api/GoogleApiClient;)Landroid/location/Location;
    return-void
.end method
"""
    sources = {
        "com/google/android/gms/location/FusedLocationProviderApi": SOURCES[
            "com/google/android/gms/location/FusedLocationProviderApi"],
        f"{PKG}/Near": _class(f"{PKG}/Near", "Ljava/lang/Object;", flags="public interface abstract",
                              interfaces=(gms, *many)),
        f"{PKG}/Far": _class(f"{PKG}/Far", "Ljava/lang/Object;", flags="public interface abstract",
                             interfaces=(*many, gms)),
        f"{PKG}/User": _class(f"{PKG}/User", "Ljava/lang/Object;", call.format(f"{PKG}/Near"),
                              call.format(f"{PKG}/Far").replace(" last(", " far(")),
    }
    index = CodeIndex([_assemble(sources, tmp_path / "wide.dex")])
    rules = [r for r in load_apis() if r.id == "fused_location_api.get_last_location"]
    found = {s.caller.name for s in _raw_sites(index, tuple(rules))}
    assert found == {"last"}        # Far names the rule's interface past the cut
    assert index.hierarchy_cut == 2 and index.inherit_steps <= 2 * (MAX_HIERARCHY + 2)


def test_the_deprecated_get_text_of_the_content_clipboard_manager_is_a_clipboard_read(tmp_path):
    # android.content.ClipboardManager redeclares getText: its calls name it, never android.text.ClipboardManager
    require_tools(aapt=False)
    reader = _class(f"{PKG}/Paste", "Ljava/lang/Object;", """
.method public static read(Landroid/content/ClipboardManager;)Ljava/lang/CharSequence;
    .registers 2
    invoke-virtual {p0}, Landroid/content/ClipboardManager;->getText()Ljava/lang/CharSequence;
    move-result-object v0
    return-object v0
.end method
""")
    dex = _assemble({f"{PKG}/Paste": reader}, tmp_path / "classes.dex")
    sites = find_call_sites([dex], app_package="com.example.inherit")
    assert [(s.api_id, s.data_type) for s in sites] == [("clipboard.get_text", "clipboard")]
