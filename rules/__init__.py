"""Data, not code: installed inside appaudit as the package audit._rules (see pyproject.toml)."""
