package android.content;

/** Stand-in: only its identity matters (Settings.Secure.getString takes one). */
public class ContentResolver {
}
