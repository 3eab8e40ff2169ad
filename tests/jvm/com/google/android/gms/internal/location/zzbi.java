package com.google.android.gms.internal.location;

import com.google.android.gms.location.FusedLocationProviderClient;

/** Stand-in for the obfuscated implementation of FusedLocationProviderClient. */
public final class zzbi implements FusedLocationProviderClient {
    @Override
    public Object getLastLocation() {
        return "task";
    }
}
