package o;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Not a pinner: a singleton with a Set and a (String, List) -> void method, the look-alike a signature must leave
 * alone (patching it would break the app).
 */
public final class m {
    public static final m a = new m();

    private final Set<String> b = new LinkedHashSet<>();

    public final void a(String name, List<String> values) {
        b.add(name + "=" + values);
    }

    public final int b() {
        return b.size();
    }
}
