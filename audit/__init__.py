"""appaudit: audit what a mobile app really collects and sends, against what its vendor declares."""
from loguru import logger as _loguru

# androguard logs every parsed structure at DEBUG through loguru: 250 000 lines and 60 % of the time on a
# large APK. Nothing it says at that level is for our users.
_loguru.disable("androguard")

__all__ = ["__version__"]
__version__ = "0.1.0"
