package com.google.android.gms.location;

/** Stand-in: hands out the (obfuscated) implementation, loaded only at this first call. */
public final class LocationServices {
    public static FusedLocationProviderClient getFusedLocationProviderClient() {
        return new com.google.android.gms.internal.location.zzbi();
    }
}
