"""Framework callbacks through which apps and SDKs collect data, as roots and hand-offs of the call graph
(rules/entrypoints.yaml): a clipboard listener (the clipboard-snooping pattern), the methods the system calls on an
accessibility service, a notification listener and an input method (each reads what the user sees or types), and
a Bluetooth GATT callback. Without them a read made there was `present`, never `reachable`, however it was wired."""
from __future__ import annotations

import pytest

from audit.static.callgraph import call_paths
from test_callgraph import _init, _needs_smali
from test_callsites import _assemble

C = "Lcom/example/collect/"


def _reads(name: str, proto: str) -> str:
    return f""".method public {name}{proto}
    .registers 4
    const/4 v0, 0x0
    invoke-virtual {{v0}}, Landroid/content/ClipboardManager;->getPrimaryClip()Landroid/content/ClipData;
    return-void
.end method
"""


SMALI = {
    "MainActivity": f""".class public {C}MainActivity;
.super Landroid/app/Activity;
{_init("Landroid/app/Activity;")}
.method protected onCreate(Landroid/os/Bundle;)V
    .registers 4
    const/4 v1, 0x0
    new-instance v0, {C}ClipWatcher;
    invoke-direct {{v0}}, {C}ClipWatcher;-><init>()V
    invoke-virtual {{v1, v0}}, Landroid/content/ClipboardManager;->addPrimaryClipChangedListener(Landroid/content/ClipboardManager$OnPrimaryClipChangedListener;)V
    new-instance v0, {C}Gatt;
    invoke-direct {{v0}}, {C}Gatt;-><init>()V
    return-void
.end method
""",
    "ClipWatcher": f""".class public {C}ClipWatcher;
.super Ljava/lang/Object;
.implements Landroid/content/ClipboardManager$OnPrimaryClipChangedListener;
{_init()}
{_reads("onPrimaryClipChanged", "()V")}
""",
    "Gatt": f""".class public {C}Gatt;
.super Landroid/bluetooth/BluetoothGattCallback;
{_init("Landroid/bluetooth/BluetoothGattCallback;")}
{_reads("onCharacteristicRead", "(Landroid/bluetooth/BluetoothGatt;Landroid/bluetooth/BluetoothGattCharacteristic;I)V")}
""",
    "Reader": f""".class public {C}Reader;
.super Landroid/accessibilityservice/AccessibilityService;
{_init("Landroid/accessibilityservice/AccessibilityService;")}
{_reads("onAccessibilityEvent", "(Landroid/view/accessibility/AccessibilityEvent;)V")}
""",
    "Notifications": f""".class public {C}Notifications;
.super Landroid/service/notification/NotificationListenerService;
{_init("Landroid/service/notification/NotificationListenerService;")}
{_reads("onNotificationPosted", "(Landroid/service/notification/StatusBarNotification;)V")}
""",
    "Keyboard": f""".class public {C}Keyboard;
.super Landroid/inputmethodservice/InputMethodService;
{_init("Landroid/inputmethodservice/InputMethodService;")}
{_reads("onStartInputView", "(Landroid/view/inputmethod/EditorInfo;Z)V")}
""",
}
TARGETS = {
    f"{C}ClipWatcher;->onPrimaryClipChanged()V": "MainActivity",
    f"{C}Gatt;->onCharacteristicRead(Landroid/bluetooth/BluetoothGatt;Landroid/bluetooth/BluetoothGattCharacteristic;I)V":
        "MainActivity",
    f"{C}Reader;->onAccessibilityEvent(Landroid/view/accessibility/AccessibilityEvent;)V": "Reader",
    f"{C}Notifications;->onNotificationPosted(Landroid/service/notification/StatusBarNotification;)V": "Notifications",
    f"{C}Keyboard;->onStartInputView(Landroid/view/inputmethod/EditorInfo;Z)V": "Keyboard",
}


@pytest.fixture(scope="module")
def collectors_dex(tmp_path_factory):
    _needs_smali()
    return _assemble(SMALI, tmp_path_factory.mktemp("collectors") / "classes.dex")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_collecting_callback_is_reached_from_its_component(collectors_dex, target):
    component = "com.example.collect." + TARGETS[target]
    paths, _graph = call_paths([collectors_dex], [component], [target])
    assert paths.get(target), f"{target} not reached from {component}"
    assert paths[target][-1] == target


def test_without_its_component_a_service_callback_stays_unreached(collectors_dex):
    """Lifecycle methods are roots only in manifest components: a stray AccessibilityService subclass nobody
    declares (dead library code) is not reached."""
    target = f"{C}Reader;->onAccessibilityEvent(Landroid/view/accessibility/AccessibilityEvent;)V"
    assert call_paths([collectors_dex], ["com.example.collect.MainActivity"], [target])[0] == {}
