package android.telephony;

/** Stand-in with the Android API names; returns the fixed test IMEI the test expects to see hooked and sent. */
public class TelephonyManager {
    public static final String TEST_IMEI = "356938035643809";

    public String getDeviceId() {
        return TEST_IMEI;
    }

    public String getDeviceId(int slot) {
        return TEST_IMEI;
    }
}
