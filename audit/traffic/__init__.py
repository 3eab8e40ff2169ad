"""Traffic analysis: find every known identifier that left the device, in any encoding, and who received it.

    from audit.traffic import analyse, load_identifiers
    report = analyse([Path("run/")], load_identifiers("ids.yaml"), "com.example.app")
    report.transmissions (audit.model.Transmission), report.observations, report.bridging,
    report.to_json(reveal=False)
"""
from .analyse import Bridging, TrafficReport, analyse, load_identifiers, normalise_identifiers, to_markdown

__all__ = ["analyse", "load_identifiers", "normalise_identifiers", "TrafficReport", "Bridging", "to_markdown"]
