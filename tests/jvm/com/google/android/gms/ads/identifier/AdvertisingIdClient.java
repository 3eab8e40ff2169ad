package com.google.android.gms.ads.identifier;

public class AdvertisingIdClient {
    public static final String TEST_ADID = "38400000-8cf0-11bd-b23e-10b96e40000d";

    public static Info getAdvertisingIdInfo(Object context) {
        return new Info(TEST_ADID, false);
    }

    public static final class Info {
        private final String id;
        private final boolean limitAdTracking;

        public Info(String id, boolean limitAdTracking) {
            this.id = id;
            this.limitAdTracking = limitAdTracking;
        }

        public String getId() {
            return id;
        }

        public boolean isLimitAdTrackingEnabled() {
            return limitAdTracking;
        }
    }
}
