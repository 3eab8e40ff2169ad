package com.example.standin;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Collections;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * A client that pins its server's certificate. Usage: Pinned HOST PORT SNI SHA256_HEX ATTEMPTS
 * Each attempt opens a TLS socket (SNI set), sends GET /pinned and prints the outcome.
 */
public final class Pinned {
    public static void main(String[] args) throws Exception {
        int attempts = Integer.parseInt(args[4]);
        for (int i = 1; i <= attempts; i++) {
            try {
                SSLContext context = SSLContext.getInstance("TLS");
                context.init(null, new TrustManager[] {new PinningTrustManager(args[3])}, null);
                try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(args[0],
                        Integer.parseInt(args[1]))) {
                    SSLParameters parameters = socket.getSSLParameters();
                    parameters.setServerNames(Collections.singletonList(new SNIHostName(args[2])));
                    socket.setSSLParameters(parameters);
                    socket.startHandshake();
                    System.out.println("attempt " + i + " ok " + get(socket, "/pinned", args[2]));
                }
            } catch (Exception e) {
                System.out.println("attempt " + i + " failed " + e.getClass().getSimpleName());
            }
            Thread.sleep(200);   // a real app retries after a moment, too
        }
    }

    /** GET path over an open (TLS) socket; the status line's first 12 bytes. */
    static String get(SSLSocket socket, String path, String host) throws java.io.IOException {
        OutputStream out = socket.getOutputStream();
        out.write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.flush();
        InputStream in = socket.getInputStream();
        byte[] head = new byte[12];
        int n = in.read(head);
        return new String(head, 0, Math.max(n, 0), StandardCharsets.US_ASCII);
    }

    static final class PinningTrustManager implements X509TrustManager {
        private final String pin;

        PinningTrustManager(String pin) {
            this.pin = pin;
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            try {
                byte[] digest = MessageDigest.getInstance("SHA-256").digest(chain[0].getEncoded());
                StringBuilder hex = new StringBuilder();
                for (byte b : digest) {
                    hex.append(String.format("%02x", b));
                }
                if (!hex.toString().equals(pin)) {
                    throw new CertificateException("certificate does not match the pin");
                }
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new CertificateException(e);
            }
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
