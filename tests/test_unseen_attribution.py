"""Attribution causes found on round 3 of the unseen apps (tests/test_unseen_apps.py), each on a fixture built from
smali (tests/smali_builds.py) so that it holds without the registries.

- uiautomator 1.0.2's test APKs (`com.github.uiautomator.test`, instrumenting `com.github.uiautomator`) keep
  their code in the instrumented app's package (`com.github.uiautomator.stub`): under a generic organisation
  (`com.github`) nothing tied it to the manifest, and a call there was judged an unidentified SDK's."""
from __future__ import annotations

import pytest
from smali_builds import build_apk, instrumentation_manifest, require_tools

from audit.static.scan import scan_app

STUB = """.class public Lcom/github/someone/stub/DeviceStub;
.super Ljava/lang/Object;

.method public constructor <init>()V
    .registers 1
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

.method public serial()Ljava/lang/String;
    .registers 2
    .annotation runtime Lorg/junit/Test;
    .end annotation
    const/4 v0, 0x0
    invoke-virtual {v0}, Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
"""


def _stub_actor(tmp_path, package: str, target: str):
    require_tools()
    manifest = instrumentation_manifest(package, target, target_sdk=29)
    apk = build_apk(tmp_path / package, manifest, {"com/github/someone/stub/DeviceStub": STUB}, name="test")
    (call,) = [c for c in scan_app([apk]).api_calls if c.api_id == "telephony.get_device_id"]
    return call.actor


def test_a_test_apks_code_in_the_package_it_instruments_is_first_party(tmp_path):
    actor = _stub_actor(tmp_path, "com.github.someone.test", "com.github.someone")
    assert (actor.kind.value, actor.id) == ("first-party", None), actor


def test_the_instrumented_package_is_no_licence_for_other_code(tmp_path):
    """Code outside both packages (under the same generic organisation) is still nobody's own."""
    actor = _stub_actor(tmp_path, "com.github.other.test", "com.github.other")
    assert actor.kind.value != "first-party", actor


# Library code seen in the Xposed Installer and the Xposed modules MobSF's wheel ships (not fetched by the tests:
# the wheel is 104 MB) and in the unseen apps' dexes: named after no catalogued prefix, it was placed as an
# `unidentified:` SDK
LIBRARY_CLASSES = ["eu.chainfire.libsuperuser.Shell$SU", "de.robv.android.xposed.XposedHelpers",
                   "se.emilsjolander.stickylistheaders.StickyListHeadersListView",
                   "com.emilsjolander.components.stickylistheaders.WrapperView",
                   "me.zhanghai.android.materialprogressbar.MaterialProgressBar",
                   "de.psdev.licensesdialog.LicensesDialog",
                   # in the unseen AndStatus and PhoneTrack dexes (androguard's tarball)
                   "oauth.signpost.basic.DefaultOAuthConsumer", "net.jcip.annotations.ThreadSafe",
                   "com.google.gdata.util.common.base.Escaper", "com.woxthebox.draglistview.DragListView",
                   "at.bitfire.cert4android.CustomCertManager", "com.github.clans.fab.FloatingActionButton"]


@pytest.mark.parametrize("cls", LIBRARY_CLASSES)
def test_root_hooking_and_widget_libraries_are_library_code(cls):
    from audit.attribution import actor_for_class, app_context
    from audit.catalogue import load_catalogue
    catalogue = load_catalogue()
    actor = actor_for_class(catalogue, cls, app_context(catalogue, "mobi.acpm.proxyon"))
    assert actor.kind.value == "library", actor


def test_the_xposed_installers_own_code_stays_first_party():
    from audit.attribution import actor_for_class, app_context
    from audit.catalogue import load_catalogue
    catalogue = load_catalogue()
    app = app_context(catalogue, "de.robv.android.xposed.installer")
    assert actor_for_class(catalogue, "de.robv.android.xposed.installer.util.ModuleUtil", app).kind.value \
        == "first-party"
