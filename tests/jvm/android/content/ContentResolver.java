package android.content;

import android.net.Uri;

/** Stand-in: its identity (Settings.Secure.getString takes one) and query's nested overloads, as on Android. */
public class ContentResolver {
    public Object query(Uri uri, String[] projection, String selection, String[] args, String sortOrder) {
        return query(uri, projection, selection, args, sortOrder, null);
    }

    public Object query(Uri uri, String[] projection, String selection, String[] args, String sortOrder,
                        Object cancellationSignal) {
        return null;
    }
}
