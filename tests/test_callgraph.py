"""The call graph (audit/static/callgraph.py): a smali app with one case per kind of edge (thread, executor,
handler, async task, listener, reflection, virtual and interface dispatch, class initialiser), an unreachable
method, shortest paths; DroidBench; androguard's xrefs as the cross-check of the edges; bounded work."""
from __future__ import annotations

import shutil

import pytest

from audit.static.callgraph import MAX_HIERARCHY, CallGraph, call_paths, walk_code
from audit.static.callsites import find_call_sites
from audit.static.dex import DexFile
from test_callsites import SMALI_JAR, _assemble, _corpus, _dexes   # shared with the call-site tests

G = "Lcom/example/graph/"
ON_CREATE = f"{G}MainActivity;->onCreate(Landroid/os/Bundle;)V"


def _init(superclass: str = "Ljava/lang/Object;") -> str:
    return f""".method public constructor <init>()V
    .registers 1
    invoke-direct {{p0}}, {superclass}-><init>()V
    return-void
.end method
"""


def _reads(name: str, api: str, proto: str = "()V", static: str = "") -> str:
    """A method that calls a TelephonyManager getter (`api`) on a null receiver: enough for the graph."""
    return f""".method public {static}{name}{proto}
    .registers 4
    const/4 v0, 0x0
    invoke-virtual {{v0}}, Landroid/telephony/TelephonyManager;->{api}()Ljava/lang/String;
    return-void
.end method
"""


GRAPH_SMALI = {
    "MainActivity": f""".class public Lcom/example/graph/MainActivity;
.super Landroid/app/Activity;
{_init("Landroid/app/Activity;")}
.method protected onCreate(Landroid/os/Bundle;)V
    .registers 6
    # thread hand-off: new Thread(new Worker()).start()
    new-instance v0, {G}Worker;
    invoke-direct {{v0}}, {G}Worker;-><init>()V
    new-instance v1, Ljava/lang/Thread;
    invoke-direct {{v1, v0}}, Ljava/lang/Thread;-><init>(Ljava/lang/Runnable;)V
    invoke-virtual {{v1}}, Ljava/lang/Thread;->start()V
    # executor hand-off
    invoke-static {{}}, Ljava/util/concurrent/Executors;->newSingleThreadExecutor()Ljava/util/concurrent/ExecutorService;
    move-result-object v1
    new-instance v0, {G}Task;
    invoke-direct {{v0}}, {G}Task;-><init>()V
    invoke-interface {{v1, v0}}, Ljava/util/concurrent/ExecutorService;->execute(Ljava/lang/Runnable;)V
    # listener hand-off
    const/4 v1, 0x0
    new-instance v0, {G}Clicker;
    invoke-direct {{v0}}, {G}Clicker;-><init>()V
    invoke-virtual {{v1, v0}}, Landroid/view/View;->setOnClickListener(Landroid/view/View$OnClickListener;)V
    # handler and async task
    new-instance v0, {G}MyHandler;
    invoke-direct {{v0}}, {G}MyHandler;-><init>()V
    new-instance v0, {G}Loader;
    invoke-direct {{v0}}, {G}Loader;-><init>()V
    # reflection with constant names
    const-string v0, "com.example.graph.Hidden"
    invoke-static {{v0}}, Ljava/lang/Class;->forName(Ljava/lang/String;)Ljava/lang/Class;
    move-result-object v0
    const-string v1, "secret"
    const/4 v2, 0x0
    invoke-virtual {{v0, v1, v2}}, Ljava/lang/Class;->getMethod(Ljava/lang/String;[Ljava/lang/Class;)Ljava/lang/reflect/Method;
    # virtual dispatch: Base b = new Impl(); b.fetch()
    new-instance v0, {G}Impl;
    invoke-direct {{v0}}, {G}Impl;-><init>()V
    invoke-virtual {{v0}}, {G}Base;->fetch()V
    # interface dispatch on an app interface
    const/4 v0, 0x0
    invoke-interface {{v0}}, {G}Source;->pull()V
    # two routes to Deep.target: A.x -> Deep.target (short) and B.y -> C.z -> Deep.target (long)
    invoke-static {{}}, {G}B;->y()V
    invoke-static {{}}, {G}A;->x()V
    # a static field read runs the class initialiser
    sget-object v0, {G}Config;->VALUE:Ljava/lang/String;
    return-void
.end method
""",
    "Worker": f""".class public L{G[1:]}Worker;
.super Ljava/lang/Object;
.implements Ljava/lang/Runnable;
{_init()}{_reads("run", "getDeviceId")}""",
    "Task": f""".class public L{G[1:]}Task;
.super Ljava/lang/Object;
.implements Ljava/lang/Runnable;
{_init()}{_reads("run", "getImei")}""",
    "Clicker": f""".class public L{G[1:]}Clicker;
.super Ljava/lang/Object;
.implements Landroid/view/View$OnClickListener;
{_init()}{_reads("onClick", "getSimSerialNumber", "(Landroid/view/View;)V")}
{_reads("helper", "getGroupIdLevel1")}""",
    "MyHandler": f""".class public L{G[1:]}MyHandler;
.super Landroid/os/Handler;
{_init("Landroid/os/Handler;")}{_reads("handleMessage", "getSubscriberId", "(Landroid/os/Message;)V")}""",
    "Loader": f""".class public L{G[1:]}Loader;
.super Landroid/os/AsyncTask;
{_init("Landroid/os/AsyncTask;")}{_reads("doInBackground", "getMeid", "([Ljava/lang/Object;)Ljava/lang/Object;")
                                   .replace("return-void", "return-object v0")}""",
    "Hidden": f""".class public L{G[1:]}Hidden;
.super Ljava/lang/Object;
{_init()}{_reads("secret", "getLine1Number", static="static ")}
{_reads("other", "getVoiceMailNumber", static="static ")}""",
    "Base": f""".class public abstract L{G[1:]}Base;
.super Ljava/lang/Object;
{_init()}
.method public abstract fetch()V
.end method
""",
    "Impl": f""".class public L{G[1:]}Impl;
.super L{G[1:]}Base;
{_init(G + "Base;")}{_reads("fetch", "getNetworkOperator")}""",
    "Source": f""".class public interface abstract L{G[1:]}Source;
.super Ljava/lang/Object;
.method public abstract pull()V
.end method
""",
    "SourceImpl": f""".class public L{G[1:]}SourceImpl;
.super Ljava/lang/Object;
.implements L{G[1:]}Source;
{_init()}{_reads("pull", "getSimOperator")}""",
    "A": f""".class public L{G[1:]}A;
.super Ljava/lang/Object;
.method public static x()V
    .registers 1
    invoke-static {{}}, {G}Deep;->target()V
    return-void
.end method
""",
    "B": f""".class public L{G[1:]}B;
.super Ljava/lang/Object;
.method public static y()V
    .registers 1
    invoke-static {{}}, {G}C;->z()V
    return-void
.end method
""",
    "C": f""".class public L{G[1:]}C;
.super Ljava/lang/Object;
.method public static z()V
    .registers 1
    invoke-static {{}}, {G}Deep;->target()V
    return-void
.end method
""",
    "Deep": f""".class public L{G[1:]}Deep;
.super Ljava/lang/Object;
{_reads("target", "getNetworkCountryIso", static="static ")}""",
    "Config": f""".class public L{G[1:]}Config;
.super Ljava/lang/Object;
.field public static VALUE:Ljava/lang/String;
.method static constructor <clinit>()V
    .registers 1
    invoke-static {{}}, {G}Orphan;->referenced()V
    return-void
.end method
""",
    "Orphan": f""".class public L{G[1:]}Orphan;
.super Ljava/lang/Object;
{_reads("unused", "getDeviceSoftwareVersion", static="static ")}
.method public static caller()V
    .registers 1
    invoke-static {{}}, {G}Orphan;->unused()V
    return-void
.end method
.method public static referenced()V
    .registers 1
    return-void
.end method
""",
}


def _needs_smali() -> None:
    if not SMALI_JAR.is_file() or shutil.which("java") is None:
        pytest.skip("smali / java not installed (make deb)")


@pytest.fixture(scope="module")
def graph_dex(tmp_path_factory) -> DexFile:
    _needs_smali()
    return _assemble(GRAPH_SMALI, tmp_path_factory.mktemp("graph") / "classes.dex")


def _paths(dex: DexFile, targets, entry=("com.example.graph.MainActivity",)):
    return call_paths([dex], entry, targets)


def test_each_hand_off_is_an_edge_with_the_shortest_path(graph_dex):
    cases = {
        f"{G}Worker;->run()V": "thread",
        f"{G}Task;->run()V": "executor",
        f"{G}Clicker;->onClick(Landroid/view/View;)V": "listener",
        f"{G}MyHandler;->handleMessage(Landroid/os/Message;)V": "handler",
        f"{G}Loader;->doInBackground([Ljava/lang/Object;)Ljava/lang/Object;": "async task",
        f"{G}Hidden;->secret()V": "reflection",
        f"{G}Impl;->fetch()V": "virtual dispatch",
        f"{G}SourceImpl;->pull()V": "interface dispatch",
    }
    paths, graph = _paths(graph_dex, cases)
    for target, why in cases.items():
        assert paths.get(target) == (ON_CREATE, target), why
    assert graph.partial is None


def test_shortest_path_and_class_initialiser(graph_dex):
    deep, clinit = f"{G}Deep;->target()V", f"{G}Config;-><clinit>()V"
    referenced = f"{G}Orphan;->referenced()V"
    paths, _graph = _paths(graph_dex, [deep, clinit, referenced])
    assert paths[deep] == (ON_CREATE, f"{G}A;->x()V", deep)          # not through B.y -> C.z
    assert paths[clinit] == (ON_CREATE, clinit)                        # sget Config.VALUE
    assert paths[referenced] == (ON_CREATE, clinit, referenced)


def test_code_with_no_path_stays_unreached(graph_dex):
    unreached = [f"{G}Orphan;->unused()V",            # called, but only by caller(), which nothing calls
                 f"{G}Orphan;->caller()V",
                 f"{G}Hidden;->other()V",             # its class is looked up by name, this method is not
                 f"{G}Clicker;->helper()V"]           # an instantiated listener's non-callback method
    paths, graph = _paths(graph_dex, unreached)
    assert paths == {}
    assert graph.partial is None
    # and with no entry point at all, nothing is reachable
    assert _paths(graph_dex, [f"{G}Worker;->run()V"], entry=())[0] == {}


def test_call_sites_carry_the_path(graph_dex):
    sites = find_call_sites([graph_dex], app_package="com.example.graph",
                            component_classes=["com.example.graph.MainActivity"])
    by_api = {s.api.split("->")[1].split("(")[0]: s for s in sites}
    imei = by_api["getDeviceId"]
    assert imei.reachable and imei.path == (ON_CREATE, f"{G}Worker;->run()V")
    sim = by_api["getSimSerialNumber"]
    assert sim.reachable and sim.path[-1] == sim.caller
    assert by_api["getLine1Number"].path == (ON_CREATE, f"{G}Hidden;->secret()V")


# -- DroidBench -------------------------------------------------------------------------------------------
def test_droidbench_sources_have_their_paths():
    location = _dexes(_corpus("droidbench__LocationLeak1.apk"))
    listener = "Lde/ecspride/LocationLeak1$MyLocationListener;->onLocationChanged(Landroid/location/Location;)V"
    on_create = "Lde/ecspride/LocationLeak1;->onCreate(Landroid/os/Bundle;)V"
    paths, _ = call_paths(location, ["de.ecspride.LocationLeak1"], [listener, on_create])
    assert paths == {listener: (on_create, listener), on_create: (on_create,)}
    direct = _dexes(_corpus("droidbench__DirectLeak1.apk"))
    main = "Lde/ecspride/MainActivity;->onCreate(Landroid/os/Bundle;)V"
    assert call_paths(direct, ["de.ecspride.MainActivity"], [main])[0] == {main: (main,)}


# -- androguard's xrefs as the cross-check of the edges -------------------------------------------------
@pytest.mark.parametrize("name", ["droidbench__LocationLeak1.apk", "droidbench__DirectLeak1.apk",
                                  "androguard__com.politedroid_4.apk"])
def test_edges_agree_with_androguard_xrefs(name):
    from audit import quiet_androguard
    pytest.importorskip("androguard")
    quiet_androguard()
    from androguard.misc import AnalyzeAPK
    apk = _corpus(name)
    _a, _d, analysis = AnalyzeAPK(str(apk))
    dexes = _dexes(apk)
    graph = CallGraph(dexes)
    theirs: dict[str, set[str]] = {}
    for method in analysis.get_methods():
        if method.is_external():
            continue
        src = f"{method.class_name}->{method.name}{method.descriptor}".replace(" ", "")
        theirs[src] = {f"{c.class_name}->{c.name}{c.descriptor}".replace(" ", "")
                       for _cls, c, _off in method.get_xref_to() if not c.is_external()}
    compared = 0
    for src, callees in sorted(theirs.items()):
        node = graph.node_of(src)
        assert node is not None, src
        dex_i, row = graph._locate(node)
        dex = dexes[dex_i]
        code_off = dex.method_table()[2][row]
        invoked = set()
        if code_off:
            code, _units = walk_code(dex, code_off)
            invoked = {dex.method_descriptor(i & 0xFFFF) for i in code.invokes}
        ours_defined = {d for d in invoked if graph.node_of(d) is not None}
        assert ours_defined == callees, src            # the instruction walk sees the same invokes
        successors = {graph.descriptor(n) for n in graph.successors(node)}
        assert callees <= successors, src                # and every one of them is an edge
        compared += len(callees)
    assert compared > 0


# -- bounded work -----------------------------------------------------------------------------------------
def _dispatch_storm(n: int) -> dict[str, str]:
    """n classes override one method of Root; n callers each invoke it through Root: n*n edges under naive
    class-hierarchy analysis. The graph builds the override table once per signature (n entries)."""
    sources = {"Root": f""".class public Lcom/example/storm/Root;
.super Ljava/lang/Object;
{_init()}
.method public a()V
    .registers 1
    return-void
.end method
""", "MainActivity": f""".class public Lcom/example/storm/MainActivity;
.super Landroid/app/Activity;
{_init("Landroid/app/Activity;")}
.method protected onCreate(Landroid/os/Bundle;)V
    .registers 2
""" + "".join(f"    invoke-static {{}}, Lcom/example/storm/K{i};->go()V\n" for i in range(n)) + """    return-void
.end method
"""}
    for i in range(n):
        sources[f"K{i}"] = f""".class public Lcom/example/storm/K{i};
.super Lcom/example/storm/Root;
{_init("Lcom/example/storm/Root;")}
.method public a()V
    .registers 1
    return-void
.end method
.method public static go()V
    .registers 2
    const/4 v0, 0x0
    invoke-virtual {{v0}}, Lcom/example/storm/Root;->a()V
    invoke-virtual {{v0}}, Lcom/example/storm/K{i};->a()V
    return-void
.end method
"""
    return sources


def test_work_grows_linearly_and_a_budget_marks_the_graph_partial(tmp_path):
    _needs_smali()
    entry = ["com.example.storm.MainActivity"]
    small = _assemble(_dispatch_storm(40), tmp_path / "small.dex")
    large = _assemble(_dispatch_storm(160), tmp_path / "large.dex")
    g_small, g_large = CallGraph([small]), CallGraph([large])
    g_small.search(entry)                                  # no targets: the whole reachable graph
    g_large.search(entry)
    assert g_small.partial is None and g_large.partial is None
    assert g_large.visited >= 2 * 160                      # every go() and every override a()
    # 4x the classes: the work grows about 4x (edges are one invoke each, the override table is built once);
    # a quadratic graph would be 16x
    assert g_large.work < 6 * g_small.work
    # a budget below the work needed stops the search, says why, and reaches less
    limited = CallGraph([large], budget=g_large.work // 10)
    limited.search(entry)
    assert limited.partial and "work limit" in limited.partial
    assert limited.visited < g_large.visited


def test_scan_reports_carry_path_and_feasibility(tmp_path):
    import json
    import subprocess
    import sys
    apk = _corpus("droidbench__LocationLeak1.apk")
    out = tmp_path / "scan.json"
    subprocess.run([sys.executable, "-m", "audit.cli", "scan", str(apk), "-o", str(out)], check=True, timeout=300)
    report = json.loads(out.read_text())
    listener = "Lde/ecspride/LocationLeak1$MyLocationListener;->onLocationChanged(Landroid/location/Location;)V"
    latitude = [c for c in report["api_calls"] if c["api_id"] == "location.get_latitude"]
    assert [(c["caller"], c["reachable"], c["path"][-1], c["feasibility"]["status"], c["data_type"])
            for c in latitude] == [(listener, True, listener, "runtime-permission", "location.precise")]
    # targetSdk 17: the user accepts ACCESS_FINE_LOCATION at install up to API 28, on the review screen from API 29
    # (rules/apis.yaml `platform`)
    capability = [o for o in report["observations"] if o["level"] == "reachable"]
    assert capability and all(o["feasibility"]["status"] == "runtime-permission" for o in capability)
    assert all("when installing an app targeting API 22" in o["feasibility"]["reason"] for o in capability)
    assert all(e["path"] for o in capability for e in o["evidence"] if e["kind"] == "call-site")
    md = tmp_path / "scan.md"
    subprocess.run([sys.executable, "-m", "audit.cli", "scan", "--format", "md", str(apk), "-o", str(md)],
                   check=True, timeout=300)
    text = md.read_text()
    assert "yes: `de.ecspride.LocationLeak1.onCreate` → `de.ecspride.LocationLeak1$MyLocationListener" \
           ".onLocationChanged`" in text
    assert "**runtime-permission**: only on Android 13 and older (API 8-33): API 8-22: works if the user accepts " \
           "ACCESS_FINE_LOCATION when installing the app" in text
    assert "API 31-33: works if the user allows" in text and "approximate location only" in text


def test_a_huge_shared_interface_list_is_read_once_and_cut(tmp_path):
    _needs_smali()
    n = 260                                   # more interfaces than MAX_HIERARCHY, shared by n classes
    names = [f"I{i}" for i in range(n)]
    sources = {name: f".class public interface abstract Lcom/example/wide/{name};\n.super Ljava/lang/Object;\n"
               for name in names}
    implements = "".join(f".implements Lcom/example/wide/{name};\n" for name in names)
    for i in range(n):
        sources[f"C{i}"] = f".class public Lcom/example/wide/C{i};\n.super Ljava/lang/Object;\n{implements}"
    dex = _assemble(sources, tmp_path / "wide.dex")
    graph = CallGraph([dex])
    # one tuple per distinct list: every class shares the same one
    assert len({id(graph._interfaces[f"Lcom/example/wide/C{i};"]) for i in range(n)}) == 1
    # and the walk over it stops at MAX_HIERARCHY, counted (the scan reports it as a limit)
    assert len(graph.ancestors("Lcom/example/wide/C0;")) == MAX_HIERARCHY and graph.hierarchy_cut == 1


# -- the graph's own instruction walk ---------------------------------------------------------------------
def _successors_from_walk_code(graph: CallGraph, node: int) -> list[int]:
    """What CallGraph.successors gives, rebuilt from walk_code's lists (the reference walk) with the graph's
    own resolution of each invoke and class, in walk_code's order: invokes, classes made, classes initialised,
    then reflection."""
    dex_i, row = graph._locate(node)
    dex = graph.dexes[dex_i]
    code_off = dex.method_table()[2][row]
    if not code_off:
        return []
    code, _units = walk_code(dex, code_off)
    groups = [graph._resolve(dex_i, invoke) for invoke in code.invokes]
    made = dict.fromkeys(dex.type_name(t) for t in code.types if t < dex.type_ids_size)
    groups += [graph.class_init(cls) + graph.handoffs(cls) for cls in made]
    initialised = dict.fromkeys(dex.type_name(dex.field_id(f)[0]) for f in code.fields if f < dex.field_ids_size)
    groups += [graph.class_init(cls) for cls in initialised]
    class_lookup, method_lookup = ({i & 0xFFFF for i in keys} for keys in graph._reflection[dex_i])
    called = {i & 0xFFFF for i in code.invokes}
    if called & (class_lookup | method_lookup):
        groups.append(tuple(graph._reflective(dex, code, bool(called & method_lookup))))
    return [n for group in groups for n in group]


@pytest.mark.parametrize("name", ["droidbench__LocationLeak1.apk", "androguard__com.politedroid_4.apk",
                                  "countly__ly.count.android.demo_app-release.apk",
                                  "exodus-core__blooddonation_fr.mobdev.blooddonation.apk"])
def test_the_graphs_own_walk_gives_what_walk_code_gives(name):
    """CallGraph walks each method itself (expanding invokes as it meets them); on every method of real apps
    (switch payloads, reflection, static fields, multi-kind invokes) its successors are exactly those built
    from walk_code, the reference walk the androguard cross-check above holds to."""
    dexes = _dexes(_corpus(name))
    graph = CallGraph(dexes)
    graph._signature_index()
    nodes = range(sum(len(dex.method_table()[0]) for dex in dexes))
    assert nodes
    for node in nodes:
        assert graph.successors(node) == _successors_from_walk_code(graph, node), graph.descriptor(node)
