"""appaudit: audit what a mobile app really collects and sends, against what its vendor declares."""
import sys as _sys

__all__ = ["__version__", "quiet_androguard"]
__version__ = "0.1.0"


def quiet_androguard() -> None:
    """Silence androguard's logging. androguard logs every parsed structure at DEBUG through loguru: 250 000
    lines and 60 % of the time on a large APK; nothing it says at that level is for our users."""
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - loguru comes with androguard
        return
    logger.disable("androguard")


class _QuietAndroguardOnImport:
    """A one-shot import hook: the scan itself never imports androguard (nor loguru, 0.07 s of start-up), but
    whoever does after `import audit` (tests' cross-checks, bench, corpus workers) gets it silenced first."""

    def find_spec(self, name, path=None, target=None):
        if name == "androguard":
            if self in _sys.meta_path:
                _sys.meta_path.remove(self)
            quiet_androguard()
        return None          # the regular finders import it


if "androguard" in _sys.modules:
    quiet_androguard()
else:
    _sys.meta_path.insert(0, _QuietAndroguardOnImport())
