package o;

import java.security.cert.Certificate;
import java.util.List;

/** OkHttp's CertificateChainCleaner as R8 leaves it: abstract, clean(chain, hostname). */
public abstract class h {
    public abstract List<Certificate> a(List<Certificate> chain, String hostname);
}
