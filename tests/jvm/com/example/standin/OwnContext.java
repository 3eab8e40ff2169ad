package com.example.standin;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Paths;
import javax.net.ssl.SSLContext;

/**
 * Builds its own SSLContext with SSLContext.init, as OkHttp and most Android stacks do, and fetches one URL
 * through the proxy. Usage: OwnContext URL. Prints "status N" or the exception class.
 * Used to test the agent's trust injection (an Android-only step) on HotSpot.
 */
public final class OwnContext {
    public static void main(String[] args) throws Exception {
        String ready = System.getenv("APPAUDIT_HOOKS_READY");
        for (int i = 0; ready != null && i < 500 && !Files.exists(Paths.get(ready)); i++) {
            Thread.sleep(20);
        }
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, null, null);
        HttpClient client = HttpClient.newBuilder().sslContext(context).version(HttpClient.Version.HTTP_1_1).build();
        try {
            HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create(args[0])).build(),
                    HttpResponse.BodyHandlers.ofString());
            System.out.println("status " + response.statusCode());
        } catch (Exception e) {
            Throwable cause = e;
            while (cause.getCause() != null) {
                cause = cause.getCause();
            }
            System.out.println("failed " + e.getClass().getSimpleName() + " / " + cause.getClass().getSimpleName());
        }
    }
}
