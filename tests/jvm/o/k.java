package o;

import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * A stand-in for OkHttp 4's CertificatePinner after R8 (written here from OkHttp's public API, not its code):
 * renamed class and methods, the JDK types in the signatures kept. a(String, List) is `check`, a(String, f)
 * `check$okhttp`, a(String) `findMatchingPins`, the static a(Certificate) `pin`, c `DEFAULT`.
 */
public final class k {
    public static final k c = new k(new LinkedHashSet<>(), null);

    private final Set<j> a;
    private final h b;

    public k(Set<j> pins, h cleaner) {
        this.a = pins;
        this.b = cleaner;
    }

    public final void a(String hostname, List<Certificate> peerCertificates) throws SSLPeerUnverifiedException {
        a(hostname, () -> b != null ? b.a(peerCertificates, hostname) : peerCertificates);
    }

    @SuppressWarnings("unchecked")
    public final void a(String hostname, f cleanedPeerCertificates) throws SSLPeerUnverifiedException {
        List<j> pins = a(hostname);
        if (pins.isEmpty()) {
            return;
        }
        List<Certificate> chain = (List<Certificate>) cleanedPeerCertificates.a();
        for (Certificate certificate : chain) {
            for (j pin : pins) {
                if (pin.b.equals("sha256") && pin.c.equals(hash("SHA-256", certificate))) {
                    return;
                }
                if (pin.b.equals("sha1") && pin.c.equals(hash("SHA-1", certificate))) {
                    return;
                }
            }
        }
        StringBuilder message = new StringBuilder("Certificate pinning failure!\n  Peer certificate chain:");
        for (Certificate certificate : chain) {
            message.append("\n    ").append(a(certificate)).append(": ")
                    .append(((X509Certificate) certificate).getSubjectX500Principal().getName());
        }
        message.append("\n  Pinned certificates for ").append(hostname).append(":");
        for (j pin : pins) {
            message.append("\n    ").append(pin.b).append('/').append(pin.c);
        }
        throw new SSLPeerUnverifiedException(message.toString());
    }

    public final List<j> a(String hostname) {
        List<j> out = new ArrayList<>();
        for (j pin : a) {
            if (pin.a(hostname)) {
                out.add(pin);
            }
        }
        return out;
    }

    public static String a(Certificate certificate) {
        return "sha256/" + hash("SHA-256", certificate);
    }

    private static String hash(String algorithm, Certificate certificate) {
        try {
            byte[] spki = certificate.getPublicKey().getEncoded();
            return Base64.getEncoder().encodeToString(MessageDigest.getInstance(algorithm).digest(spki));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
