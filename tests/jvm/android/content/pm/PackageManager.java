package android.content.pm;

import java.util.List;

/** Stand-in: abstract, as on Android; calls reach ApplicationPackageManager's override. */
public abstract class PackageManager {
    public abstract List<String> getInstalledPackages(int flags);
}
