package android.provider;

import android.content.ContentResolver;

public final class Settings {
    public static final class Secure {
        public static final String ANDROID_ID = "android_id";
        public static final String TEST_ANDROID_ID = "9774d56d682e549c";

        public static String getString(ContentResolver resolver, String name) {
            if (ANDROID_ID.equals(name)) {
                return TEST_ANDROID_ID;
            }
            return "Pixel of Test";   // e.g. bluetooth_name: not the ANDROID_ID, must not count as one
        }
    }
}
