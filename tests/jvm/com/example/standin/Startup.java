package com.example.standin;

import android.app.ApplicationPackageManager;
import android.content.ContentResolver;
import android.content.pm.PackageManager;
import android.net.Uri;
import android.telephony.TelephonyManager;
import com.google.android.gms.location.FusedLocationProviderClient;
import com.google.android.gms.location.LocationServices;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.Socket;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.TimeZone;

/**
 * The start-up stand-in. Usage: Startup PLUGIN_DIR HOST PORT [WAIT_FILE]
 * It reads the IMEI on the first line of main (no waiting for hooks), calls an abstract and an interface target
 * through their implementations, a nested overload, a noisy getter in a loop, a class from a URLClassLoader
 * created late, and sends traffic that ignores proxy settings: Proxy.NO_PROXY and a raw socket.
 */
public final class Startup {
    public static void main(String[] args) throws Exception {
        String imei = new TelephonyManager().getDeviceId();
        System.out.println("first line read " + imei.length() + " digits");
        PackageManager packages = new ApplicationPackageManager();
        System.out.println("packages " + packages.getInstalledPackages(0).size());
        FusedLocationProviderClient fused = LocationServices.getFusedLocationProviderClient();
        System.out.println("fused " + fused.getLastLocation());
        new ContentResolver().query(Uri.parse("content://com.android.contacts/contacts"), null, null, null, null);
        for (int i = 0; i < 300; i++) {
            TimeZone.getDefault();
        }
        URLClassLoader plugin = new URLClassLoader(new URL[] {Paths.get(args[0]).toUri().toURL()},
                Startup.class.getClassLoader());
        Class<?> client = Class.forName("com.google.android.gms.ads.identifier.AdvertisingIdClient", true, plugin);
        Class.forName("com.google.android.gms.ads.identifier.AdvertisingIdClient$Info", true, plugin);
        String host = args[1];
        int port = Integer.parseInt(args[2]);
        HttpURLConnection direct = (HttpURLConnection) new URL("http://" + host + ":" + port + "/no-proxy")
                .openConnection(Proxy.NO_PROXY);
        System.out.println("no-proxy " + direct.getResponseCode());
        try (Socket socket = new Socket(Proxy.NO_PROXY)) {
            socket.connect(new InetSocketAddress(host, port), 10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET /raw-socket HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] head = new byte[12];
            int n = in.read(head);
            System.out.println("raw socket " + new String(head, 0, Math.max(n, 0), StandardCharsets.US_ASCII));
        }
        // The plugin is used after the traffic above: on HotSpot a class of another loader is hooked just after
        // its load, not in the same instant (docs/runtime.md).
        Object info = client.getMethod("getAdvertisingIdInfo", Object.class).invoke(null, (Object) null);
        Method getId = info.getClass().getMethod("getId");
        System.out.println("late loader adid " + getId.invoke(info));
        if (args.length > 3) {
            for (int i = 0; i < 1500 && !Files.exists(Paths.get(args[3])); i++) {
                Thread.sleep(20);
            }
        }
    }
}
