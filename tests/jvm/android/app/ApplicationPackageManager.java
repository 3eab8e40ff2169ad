package android.app;

import android.content.pm.PackageManager;
import java.util.Arrays;
import java.util.List;

/** Stand-in for the framework's concrete PackageManager. */
public class ApplicationPackageManager extends PackageManager {
    @Override
    public List<String> getInstalledPackages(int flags) {
        return Arrays.asList("com.example.standin", "com.android.chrome");
    }
}
