package com.example.standin;

import android.content.ContentResolver;
import android.provider.Settings;
import android.telephony.TelephonyManager;
import com.amplitude.api.AmplitudeClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The stand-in app. Usage: Main FIRST_PARTY_URL SDK_URL
 * It reads the IMEI itself and posts it to its own server, and lets the stand-in Amplitude SDK read and post
 * the advertising ID, ANDROID_ID and location. It waits for $APPAUDIT_HOOKS_READY first (see docs/runtime.md).
 */
public final class Main {
    public static void main(String[] args) throws Exception {
        waitForHooks();
        String imei = new TelephonyManager().getDeviceId();
        String name = Settings.Secure.getString(new ContentResolver(), "bluetooth_name");
        int first = Net.post(args[0], "{\"imei\":\"" + imei + "\",\"device_name\":\"" + name + "\"}");
        int sdk = new AmplitudeClient(args[1]).logEvent("app_open");
        System.out.println("first-party " + first + " sdk " + sdk);
    }

    private static void waitForHooks() throws InterruptedException {
        String ready = System.getenv("APPAUDIT_HOOKS_READY");
        if (ready == null) {
            return;
        }
        Path path = Paths.get(ready);
        for (int i = 0; i < 500 && !Files.exists(path); i++) {
            Thread.sleep(20);
        }
    }
}
