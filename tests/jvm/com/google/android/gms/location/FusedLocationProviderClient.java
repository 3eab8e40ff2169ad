package com.google.android.gms.location;

/** Stand-in: an interface since play-services-location 21; the app calls it through LocationServices. */
public interface FusedLocationProviderClient {
    Object getLastLocation();
}
