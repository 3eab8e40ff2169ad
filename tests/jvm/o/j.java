package o;

/** OkHttp's CertificatePinner.Pin as R8 leaves it (a stand-in, written here): host pattern, algorithm, hash. */
public final class j {
    final String a;
    final String b;
    final String c;

    public j(String pattern, String pin) {
        this.a = pattern;
        int slash = pin.indexOf('/');
        this.b = pin.substring(0, slash);
        this.c = pin.substring(slash + 1);
    }

    final boolean a(String hostname) {
        return a.equals(hostname) || (a.startsWith("*.") && hostname.endsWith(a.substring(1)));
    }
}
