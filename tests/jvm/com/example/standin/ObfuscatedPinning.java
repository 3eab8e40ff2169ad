package com.example.standin;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.security.cert.Certificate;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * An app whose OkHttp was obfuscated by R8, its pinner (o.k) in a plugin folder opened with a URLClassLoader after
 * start. Usage: ObfuscatedPinning PLUGIN_DIR HOST PORT SNI PIN ATTEMPTS
 * Each attempt opens a TLS socket (SNI set; trusted through the default trust store), checks the peer chain with
 * the pinner as OkHttp does after the handshake, then sends GET /okhttp-pinned. At the end the look-alike o.m is
 * used: it must still work.
 */
public final class ObfuscatedPinning {
    public static void main(String[] args) throws Exception {
        URLClassLoader plugin = new URLClassLoader(new URL[] {Paths.get(args[0]).toUri().toURL()},
                ObfuscatedPinning.class.getClassLoader());
        Class<?> pinClass = Class.forName("o.j", true, plugin);
        Class<?> pinnerClass = Class.forName("o.k", true, plugin);
        Object pin = pinClass.getConstructor(String.class, String.class).newInstance(args[3], args[4]);
        Object cleaner = Class.forName("o.i", true, plugin).getConstructor().newInstance();
        Object pinner = pinnerClass.getConstructor(Set.class, Class.forName("o.h", true, plugin))
                .newInstance(Collections.singleton(pin), cleaner);
        Method check = pinnerClass.getMethod("a", String.class, List.class);
        int attempts = Integer.parseInt(args[5]);
        for (int i = 1; i <= attempts; i++) {
            try (SSLSocket socket = (SSLSocket) SSLContext.getDefault().getSocketFactory().createSocket(args[1],
                    Integer.parseInt(args[2]))) {
                SSLParameters parameters = socket.getSSLParameters();
                parameters.setServerNames(Collections.singletonList(new SNIHostName(args[3])));
                socket.setSSLParameters(parameters);
                socket.startHandshake();
                List<Certificate> chain = Arrays.asList(socket.getSession().getPeerCertificates());
                check.invoke(pinner, args[3], chain);
                System.out.println("attempt " + i + " ok " + Pinned.get(socket, "/okhttp-pinned", args[3]));
            } catch (InvocationTargetException e) {
                System.out.println("attempt " + i + " failed " + e.getCause().getClass().getSimpleName() + ": "
                        + e.getCause().getMessage().split("\n")[0]);
            } catch (Exception e) {
                System.out.println("attempt " + i + " failed " + e.getClass().getSimpleName());
            }
            Thread.sleep(200);
        }
        Class<?> lookAlike = Class.forName("o.m", true, plugin);
        Object registry = lookAlike.getField("a").get(null);
        lookAlike.getMethod("a", String.class, List.class).invoke(registry, "decoy", Collections.singletonList("x"));
        System.out.println("look-alike registered " + lookAlike.getMethod("b").invoke(registry));
    }
}
