"""The Android side that can be checked without a device: bundle members chosen like bundletool for given
device properties (real bundles from ../shared/corpus and tests/fixtures), the adb command sequences against a
real adb server with no device attached (what is issued, in which order, undo running on after failures), and
the parsers of device output."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from audit.errors import InputError
from audit.runtime.adbsteps import Adb, DeviceSetup, install_commands, leftover_proxy, run_install
from audit.runtime.bundles import DeviceSpec, select_members
from audit.runtime.devices import (apks_to_install, locale_languages, parse_adid_prefs, parse_ca_check,
                                   parse_dumpsys_location, parse_wm_density, root_command)
from audit.runtime.runfolder import truth_value

from test_runtime_helpers import private_adb_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "apks"
PIXEL = DeviceSpec(abis=("arm64-v8a", "armeabi-v7a", "armeabi"), density=420, languages=("en",), sdk=30)
X86_TABLET_FR = DeviceSpec(abis=("x86_64", "x86"), density=320, languages=("fr", "en"), sdk=34)


def test_corpus_apks_with_only_a_universal_apk_installs_that_alone(tmp_path):
    bundle = CORPUS / "trase1__SimplestNotes.apks"
    if not bundle.is_file():
        pytest.skip("../shared corpus absent")
    for device in (PIXEL, X86_TABLET_FR, DeviceSpec(abis=("armeabi-v7a",), density=160, sdk=19)):
        apks, obb = apks_to_install(bundle, tmp_path, device)
        assert [p.name for p in apks] == ["universal.apk"] and obb == []
    import subprocess as sp
    if shutil.which("aapt"):
        assert "package: name=" in sp.run(["aapt", "dump", "badging", str(apks[0])], capture_output=True,
                                          text=True).stdout


BUNDLETOOL_SET = ["toc.pb", "splits/base-master.apk", "splits/base-arm64_v8a.apk", "splits/base-armeabi_v7a.apk",
                  "splits/base-x86_64.apk", "splits/base-mdpi.apk", "splits/base-xhdpi.apk",
                  "splits/base-xxhdpi.apk", "splits/base-xxxhdpi.apk", "splits/base-en.apk", "splits/base-fr.apk",
                  "splits/base-de.apk", "splits/maps-master.apk", "splits/maps-xxhdpi.apk",
                  "splits/maps-arm64_v8a.apk", "standalones/standalone-armeabi_v7a_hdpi.apk",
                  "standalones/standalone-x86_xhdpi.apk", "universal.apk"]


def test_bundletool_set_chooses_abi_density_and_language_per_device():
    pixel = select_members(BUNDLETOOL_SET, PIXEL)
    assert pixel.mode == "splits"
    assert pixel.members == ["splits/base-master.apk", "splits/base-arm64_v8a.apk", "splits/base-en.apk",
                             "splits/base-xxhdpi.apk", "splits/maps-master.apk", "splits/maps-arm64_v8a.apk",
                             "splits/maps-xxhdpi.apk"]
    tablet = select_members(BUNDLETOOL_SET, X86_TABLET_FR)
    assert tablet.members == ["splits/base-master.apk", "splits/base-en.apk", "splits/base-fr.apk",
                              "splits/base-x86_64.apk", "splits/base-xhdpi.apk", "splits/maps-master.apk",
                              "splits/maps-xxhdpi.apk"]     # the only density the module has, no x86 ABI split
    for selection in (pixel, tablet):                        # standalones and universal never mixed in
        assert not [m for m in selection.members if not m.startswith("splits/")]
        assert "universal.apk" in selection.skipped


def test_pre_lollipop_devices_get_one_standalone_apk():
    old = select_members(BUNDLETOOL_SET, DeviceSpec(abis=("x86",), density=320, sdk=19))
    assert old.mode == "standalone" and old.members == ["standalones/standalone-x86_xhdpi.apk"]


def test_fixture_bundles_for_given_device_properties(apks_bundle, xapk, apkm_bundle, tmp_path):
    english = DeviceSpec(abis=("arm64-v8a",), density=420, languages=("en",))
    french = DeviceSpec(abis=("arm64-v8a",), density=420, languages=("fr",))
    with zipfile.ZipFile(apks_bundle) as archive:
        names = archive.namelist()
    assert select_members(names, english).members == ["splits/base-master.apk", "splits/base-en.apk",
                                                      "splits/feature_maps-master.apk"]
    assert select_members(names, french).members == ["splits/base-master.apk", "splits/feature_maps-master.apk"]
    for bundle in (xapk, apkm_bundle):
        work = tmp_path / bundle.suffix[1:]
        work.mkdir()
        chosen, _ = apks_to_install(bundle, work, english)
        names = [p.name for p in chosen]
        assert len(names) == 3 and any("en" in n for n in names)
        chosen, _ = apks_to_install(bundle, work, french)
        assert len(chosen) == 2 and not any(".en." in p.name for p in chosen)


def test_xapk_obb_files_are_extracted_for_pushing(tmp_path):
    bundle = tmp_path / "game.xapk"
    with zipfile.ZipFile(bundle, "w") as out:
        out.writestr("manifest.json", '{"package_name": "org.game", "split_apks": ['
                     '{"file": "org.game.apk", "id": "base"}, {"file": "config.arm64_v8a.apk", '
                     '"id": "config.arm64_v8a"}, {"file": "config.x86.apk", "id": "config.x86"}]}')
        for name in ("org.game.apk", "config.arm64_v8a.apk", "config.x86.apk"):
            out.writestr(name, b"PK")
        out.writestr("Android/obb/org.game/main.7.org.game.obb", b"assets")
    apks, obb = apks_to_install(bundle, tmp_path, PIXEL)
    assert [p.name for p in apks] == ["org.game.apk", "config.arm64_v8a.apk"]
    assert [(p.read_bytes(), remote) for p, remote in obb] == [(b"assets", "Android/obb/org.game/main.7.org.game.obb")]


def test_install_commands_are_fresh_flagged_and_checked():
    apks = [Path("base.apk"), Path("split_config.en.apk")]
    fresh = install_commands(apks, "org.app", 34, 22, keep_data=False,
                             obb=[(Path("main.obb"), "Android/obb/org.app/main.1.org.app.obb")])
    assert fresh == [
        (["get-state"], True),
        (["uninstall", "org.app"], False),
        (["install-multiple", "-g", "--bypass-low-target-sdk-block", "base.apk", "split_config.en.apk"], True),
        (["shell", "mkdir -p '/sdcard/Android/obb/org.app'"], True),
        (["push", "main.obb", "/sdcard/Android/obb/org.app/main.1.org.app.obb"], True),
        (["shell", "pm path org.app"], True)]
    kept = install_commands(apks[:1], "org.app", 30, 22, keep_data=True)
    assert kept[1] == (["install", "-g", "-r", "base.apk"], True)      # API 30: no low-target flag


@pytest.fixture
def adb_server(private_adb_server):
    """(adb, env) of a real adb server of our own, started, with no device."""
    adb = shutil.which("adb")
    subprocess.run([adb, "start-server"], env=private_adb_server, capture_output=True, timeout=30)
    return adb, private_adb_server


def test_install_stops_at_the_first_required_step_that_fails(adb_server, tmp_path):
    adb_path, env = adb_server
    log: list[str] = []
    adb = Adb(adb_path, "emulator-5554", log.append, env=env)
    with pytest.raises(InputError, match="get-state"):
        run_install(adb, install_commands([tmp_path / "a.apk", tmp_path / "b.apk"], "org.app", 34, 30, False))
    # The device is asked for first: without it the real `adb uninstall` would wait for one forever.
    assert adb.issued == [["get-state"]]
    assert len(log) == 1 and "not found" in log[0]


def test_set_up_fails_cleanly_and_undo_runs_every_step_after_failures(adb_server):
    adb_path, env = adb_server
    adb = Adb(adb_path, "emulator-5554", env=env)
    setup = DeviceSetup(adb, "org.app", (8080, 1080))
    with pytest.raises(InputError, match="get-state"):
        setup.apply()                                  # the real server answers: no such device
    assert adb.issued == [["get-state"]] and setup.undo_steps == []
    # The undo of a set-up that went through (the device vanished later): every step is issued, newest first,
    # though each one fails; nothing device-wide is there to undo.
    gone = DeviceSetup(Adb(adb_path, "emulator-5554", env=env), "org.app", (8080, 1080),
                       undo_steps=[["reverse", "--remove", "tcp:8080"], ["reverse", "--remove", "tcp:1080"]])
    failures = gone.undo()
    assert gone.adb.issued == [["shell", "am force-stop org.app"], ["reverse", "--remove", "tcp:1080"],
                               ["reverse", "--remove", "tcp:8080"]]
    assert len(failures) == 3 and all("not found" in f for f in failures)


def test_capture_cli_on_a_missing_device_keeps_its_run_folder(adb_server, tmp_path):
    _, env = adb_server
    apk = next(CORPUS.glob("*.apk"), None) if CORPUS.is_dir() else None
    if apk is None:
        pytest.skip("../shared corpus absent")
    run = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "audit.cli", "capture", str(apk), "--device", "emulator-5554",
                             "--keep-data", "-o", str(run)], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no Android device connected" in result.stderr
    import json
    assert json.loads((run / "run.json").read_text())["options"]["keep_data"] is True


def test_doctor_fix_with_a_missing_file_is_one_line(adb_server, tmp_path):
    _, env = adb_server
    result = subprocess.run([sys.executable, "-m", "audit.cli", "device", "doctor", "--fix",
                             str(tmp_path / "frida-server")], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"appaudit: error: frida-server file not found: "
                                                  f"{tmp_path / 'frida-server'}"]


def test_device_output_parsers():
    assert parse_wm_density("Physical density: 420\n") == 420
    assert parse_wm_density("Physical density: 420\nOverride density: 480") == 480
    assert parse_wm_density("") is None
    assert locale_languages("fr-FR") == ("fr",) and locale_languages("de-DE,en-US") == ("de", "en")
    assert locale_languages("") == ("en",)
    prefs = ('<?xml version=\'1.0\'?><map><string name="adid_key">38400000-8CF0-11BD-B23E-10B96E40000D</string>'
             '<int name="adid_reset_count" value="0" /></map>')
    assert parse_adid_prefs(prefs) == "38400000-8cf0-11bd-b23e-10b96e40000d"
    assert parse_adid_prefs("cat: No such file or directory") is None
    dumpsys = ("  last location=Location[gps 52.373100,4.892200 hAcc=5.0 et=+1d2h mock]\n"
               "  last location=Location[network 52.373100,4.892200 hAcc=20 et=+1d2h]\n"
               "  last location=Location[fused 0.000000,0.000000 hAcc=0]\n")
    assert parse_dumpsys_location(dumpsys) == [{"lat": 52.3731, "lon": 4.8922}]
    assert parse_ca_check("644\nu:object_r:system_file:s0 /system/etc/security/cacerts/9a5ba575.0") == \
        {"mode": "644", "label": "u:object_r:system_file:s0"}
    assert leftover_proxy({"http_proxy": ":0", "global_http_proxy_host": "10.0.2.2"}) == \
        ["global_http_proxy_host=10.0.2.2"]
    assert root_command("", "id") == "adb shell id"
    assert root_command("su 0 sh -c", "id") == "adb shell su 0 sh -c id"
    assert root_command(None, "id").startswith("adb root && ")


@pytest.mark.parametrize("raw, truth", [
    ("02:00:00:00:00:00", None), ("<unknown ssid>", None), ('"HomeNet"', "HomeNet"), ('""', None),
    ("00000000-0000-0000-0000-000000000000", None), ("9774d56d682e549c", "9774d56d682e549c"),
    ({"lat": 1.0, "lon": 2.0}, {"lat": 1.0, "lon": 2.0})])
def test_placeholders_are_never_truth_values(raw, truth):
    assert truth_value(raw) == truth


def _mount_namespaces_work() -> bool:
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /mnt"], capture_output=True, timeout=30)
    return probe.returncode == 0


def test_the_system_ca_script_mounts_once_in_every_zygote_however_often_it_runs(tmp_path):
    """The Android 14 CA script run for real, twice, on a scratch tree inside a private mount namespace with two
    stand-in zygotes (processes in mount namespaces of their own, /system propagating into them as on Android):
    one tmpfs on the store, one bind in each zygote, the CA visible there. Only chcon is a no-op (no SELinux)."""
    from audit.runtime.devices import CA_OK_MARK, CaPaths, system_ca_script, zygote_views_script, zygotes_missing
    if not _mount_namespaces_work():
        pytest.skip("no private mount namespaces here (unshare -m needs CAP_SYS_ADMIN)")
    root = tmp_path / "device"
    store, apex = root / "system/etc/security/cacerts", root / "apex/com.android.conscrypt/cacerts"
    for folder in (store, apex, root / "data/local/tmp"):
        folder.mkdir(parents=True)
    for cert in ("0a1b2c3d.0", "5e6f7a8b.0"):
        (store / cert).write_text("system " + cert)
        (apex / cert).write_text("apex " + cert)
    name = "9a5ba575.0"
    remote = root / "data/local/tmp" / name
    remote.write_text("the run CA")
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "chcon").write_text("#!/bin/sh\nexit 0\n")
    (shims / "chcon").chmod(0o755)
    zygotes = root / "zygotes"
    paths = CaPaths(store=str(store), apex=str(apex), work=str(root / "data/local/tmp/appaudit-ca"),
                    zygotes=f"cat {zygotes}", system_server="true")
    install = system_ca_script(name, str(remote), 34, paths)
    driver = f"""
set -e
trap 'kill $(cat {zygotes}) 2>/dev/null' EXIT
mount --bind {root}/system {root}/system
mount --make-shared {root}/system
for i in 1 2; do
  unshare -m --propagation unchanged sleep 600 &
  echo $! >> {zygotes}
done
for pid in $(cat {zygotes}); do
  while [ "$(readlink /proc/$pid/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ]; do sleep 0.01; done
done
sh -c "$INSTALL"
sh -c "$INSTALL"
set +e
echo "store mounts $(grep -c ' {store} ' /proc/mounts)"
for pid in $(cat {zygotes}); do
  echo "apex mounts $(nsenter --mount=/proc/$pid/ns/mnt -- grep -c ' {apex} ' /proc/self/mounts)"
  echo "apex files $(nsenter --mount=/proc/$pid/ns/mnt -- ls {apex} | tr '\\n' ' ')"
done
echo VIEWS
sh -c "$VIEWS"
"""
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", driver], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "INSTALL": install,
                                                         "VIEWS": zygote_views_script(name, paths),
                                                         "PATH": f"{shims}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    report, views = result.stdout.split("VIEWS\n")
    assert report.count(CA_OK_MARK) == 2
    lines = report.splitlines()
    assert "store mounts 1" in lines
    assert [l for l in lines if l.startswith("apex mounts")] == ["apex mounts 1", "apex mounts 1"]
    # Each zygote sees the APEX store's own certificates plus the run CA.
    assert [l for l in lines if l.startswith("apex files")] == [f"apex files 0a1b2c3d.0 5e6f7a8b.0 {name} "] * 2
    assert len(views.splitlines()) == 2 and zygotes_missing(views, name) == []
