"""Data, not code: installed inside appaudit as the package audit._hooks (see pyproject.toml)."""
