package o;

/** kotlin.jvm.functions.Function0 after R8 renamed it. */
public interface f {
    Object a();
}
