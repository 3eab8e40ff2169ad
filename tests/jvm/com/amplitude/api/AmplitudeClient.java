package com.amplitude.api;

import android.content.ContentResolver;
import android.location.Location;
import android.location.LocationManager;
import android.provider.Settings;
import com.google.android.gms.ads.identifier.AdvertisingIdClient;

/** A stand-in third-party SDK: it reads the advertising ID, ANDROID_ID and location itself and uploads them. */
public class AmplitudeClient {
    private final String endpoint;

    public AmplitudeClient(String endpoint) {
        this.endpoint = endpoint;
    }

    public int logEvent(String name) throws Exception {
        String adid = AdvertisingIdClient.getAdvertisingIdInfo(null).getId();
        String androidId = Settings.Secure.getString(new ContentResolver(), Settings.Secure.ANDROID_ID);
        Location location = new LocationManager().getLastKnownLocation("gps");
        String body = "{\"event_type\":\"" + name + "\",\"adid\":\"" + adid + "\",\"android_id\":\"" + androidId
                + "\",\"location_lat\":" + location.getLatitude() + ",\"location_lng\":" + location.getLongitude()
                + "}";
        return AmplitudeHttp.post(endpoint, body);
    }
}
