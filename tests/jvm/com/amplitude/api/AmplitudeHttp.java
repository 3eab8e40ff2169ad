package com.amplitude.api;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** The SDK's own uploader, as real SDKs have: its frames attribute the upload to the SDK. */
final class AmplitudeHttp {
    // The default proxy selector reads -Dhttp(s).proxyHost from JAVA_TOOL_OPTIONS (set by the capture).
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    private AmplitudeHttp() {
    }

    static int post(String url, String body) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return CLIENT.send(request, HttpResponse.BodyHandlers.ofString()).statusCode();
    }
}
