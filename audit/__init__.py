"""appaudit: audit what a mobile app really collects and sends, against what its vendor declares."""

__all__ = ["__version__", "quiet_androguard"]
__version__ = "0.1.0"


def quiet_androguard() -> None:
    """Silence androguard's logging. androguard logs every parsed structure at DEBUG through loguru: 250 000
    lines and 60 % of the time on a large APK; nothing it says at that level is for our users. The scan never
    imports androguard; the tests' cross-checks and the benchmarks call this before they do."""
    try:
        from loguru import logger
    except ImportError:  # loguru comes with androguard, which is only in the test and bench extras
        return
    logger.disable("androguard")
