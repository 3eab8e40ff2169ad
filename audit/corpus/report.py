"""The corpus report: what a corpus of apps does, in Markdown or in one self-contained HTML page.

Sections: the run (apps by status), SDK prevalence, data types read per actor kind, which SDKs read which
identifiers, most common permissions, and the failures with their reasons. The HTML embeds its plots as
base64 PNG (matplotlib, Agg backend) and loads nothing from the network.
"""
from __future__ import annotations

import base64
import io
from typing import Any

import pandas as pd

from ..escape import code, html as escape_html, markdown
from .api import Corpus

TOP_SDKS = 25
TOP_PERMISSIONS = 20
MAX_FAILURES = 200


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        value = ", ".join(str(v) for v in (value.tolist() if hasattr(value, "tolist") else value))
    if isinstance(value, float):
        value = f"{value:.1%}" if 0 <= value <= 1 else f"{value:g}"
    return "" if value is None else str(value)


def _md_table(frame: pd.DataFrame, columns: dict[str, str]) -> str:
    if frame.empty:
        return "_none_\n"
    head = "| " + " | ".join(columns.values()) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(markdown(_cell(row[c])) for c in columns) + " |\n"
                   for _, row in frame.iterrows())
    return head + body


def _html_table(frame: pd.DataFrame, columns: dict[str, str]) -> str:
    if frame.empty:
        return "<p><em>none</em></p>\n"
    head = "".join(f"<th>{escape_html(v)}</th>" for v in columns.values())
    body = "".join("<tr>" + "".join(f"<td>{escape_html(_cell(row[c]))}</td>" for c in columns) + "</tr>\n"
                   for _, row in frame.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n"


def collect(corpus: Corpus) -> dict[str, Any]:
    return {
        "db": str(corpus.path),
        "status": corpus.status_counts(),
        "scanned": corpus.scanned_count(),
        "sdks": corpus.sdk_prevalence(),
        "actors": corpus.datatypes_by_actor_table(),
        "sdk_ids": corpus.sdk_identifiers(),
        "permissions": corpus.permission_prevalence().head(TOP_PERMISSIONS),
        "failures": corpus.failures(),
    }


SDK_COLUMNS = {"sdk_id": "SDK", "organisation": "Organisation", "categories": "Categories", "apps": "Apps",
               "share": "Share of scanned apps"}
ACTOR_COLUMNS = {"data_type": "Data type", "first-party": "First party", "sdk": "SDK", "library": "Library",
                 "unknown": "Unknown"}
SDK_ID_COLUMNS = {"sdk_id": "SDK", "data_type": "Identifier", "apps": "Apps", "apps_reachable": "Reachable in",
                  "api_ids": "APIs"}
PERMISSION_COLUMNS = {"name": "Permission", "protection_level": "Protection", "apps": "Apps"}
FAILURE_COLUMNS = {"path": "File", "error_kind": "Kind", "error": "Reason"}


def _status_line(data: dict[str, Any]) -> str:
    counts = {row["status"]: int(row["apps"]) for _, row in data["status"].iterrows()}
    total = sum(counts.values())
    return (f"{total} apps in the corpus: {counts.get('ok', 0)} ok, {counts.get('partial', 0)} partial, "
            f"{counts.get('failed', 0)} failed. Prevalences are over the {data['scanned']} apps scanned.")


def render_markdown(corpus: Corpus) -> str:
    data = collect(corpus)
    failures = data["failures"]
    parts = [
        "# Corpus report\n",
        f"Database: {code(data['db'])}\n",
        _status_line(data) + "\n",
        f"## SDK prevalence (top {TOP_SDKS})\n", _md_table(data["sdks"].head(TOP_SDKS), SDK_COLUMNS),
        "## Data types read, by actor kind (apps with a call site)\n", _md_table(data["actors"], ACTOR_COLUMNS),
        "## Which SDKs read which identifiers\n", _md_table(data["sdk_ids"], SDK_ID_COLUMNS),
        f"## Most common permissions (top {TOP_PERMISSIONS})\n",
        _md_table(data["permissions"], PERMISSION_COLUMNS),
        f"## Failed apps ({len(failures)})\n", _md_table(failures.head(MAX_FAILURES), FAILURE_COLUMNS),
    ]
    return "\n".join(parts)


# -- plots -------------------------------------------------------------------------------------------------
def _png(fig) -> str:
    buffer = io.BytesIO()
    # No timestamp or software metadata: the same database gives the same page.
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(data: dict[str, Any]) -> dict[str, str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    sdks = data["sdks"].head(TOP_SDKS)
    if not sdks.empty:
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(sdks) + 1))
        ax.barh(list(sdks["sdk_id"])[::-1], [100 * s for s in sdks["share"]][::-1], color="#4c72b0")
        ax.set_xlabel("% of scanned apps")
        ax.set_title("SDK prevalence")
        plots["sdks"] = _png(fig)
    actors = data["actors"]
    if not actors.empty:
        kinds = [k for k in ("first-party", "sdk", "library", "unknown") if k in actors.columns]
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(actors) + 1))
        left = [0] * len(actors)
        colours = {"first-party": "#55a868", "sdk": "#c44e52", "library": "#8172b2", "unknown": "#937860"}
        labels = list(actors["data_type"])[::-1]
        for kind in kinds:
            values = list(actors[kind])[::-1]
            ax.barh(labels, values, left=left, label=kind, color=colours[kind])
            left = [a + b for a, b in zip(left, values)]
        ax.set_xlabel("apps with a call site (stacked by actor kind)")
        ax.set_title("Data types read, by actor kind")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
        plots["actors"] = _png(fig)
    sdk_ids = data["sdk_ids"]
    if not sdk_ids.empty:
        table = sdk_ids.pivot_table(index="sdk_id", columns="data_type", values="apps", fill_value=0,
                                    aggfunc="sum")
        fig, ax = plt.subplots(figsize=(1 + 0.6 * len(table.columns), 1 + 0.35 * len(table.index)))
        top = max(int(table.values.max()), 1)
        ax.imshow(table.values, cmap="Reds", aspect="auto", vmin=0, vmax=top)
        ax.set_xticks(range(len(table.columns)), list(table.columns), rotation=45, ha="right")
        ax.set_yticks(range(len(table.index)), list(table.index))
        for (i, j), value in pd.DataFrame(table.values).stack().items():
            if value:
                ax.text(j, i, str(int(value)), ha="center", va="center", fontsize="small",
                        color="white" if value > top / 2 else "black")
        ax.set_title("Apps where an SDK reads an identifier")
        plots["sdk_ids"] = _png(fig)
    return plots


STYLE = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;
vertical-align:top}th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}"""


def render_html(corpus: Corpus) -> str:
    data = collect(corpus)
    plots = _plots(data)

    def img(key: str, alt: str) -> str:
        return f'<p><img alt="{escape_html(alt)}" src="data:image/png;base64,{plots[key]}"></p>\n' \
            if key in plots else ""

    failures = data["failures"]
    body = [
        "<h1>Corpus report</h1>",
        f"<p>Database: <code>{escape_html(data['db'])}</code></p>",
        f"<p>{escape_html(_status_line(data))}</p>",
        f"<h2>SDK prevalence (top {TOP_SDKS})</h2>", img("sdks", "SDK prevalence"),
        _html_table(data["sdks"].head(TOP_SDKS), SDK_COLUMNS),
        "<h2>Data types read, by actor kind</h2>", img("actors", "Data types by actor kind"),
        _html_table(data["actors"], ACTOR_COLUMNS),
        "<h2>Which SDKs read which identifiers</h2>", img("sdk_ids", "SDKs reading identifiers"),
        _html_table(data["sdk_ids"], SDK_ID_COLUMNS),
        f"<h2>Most common permissions (top {TOP_PERMISSIONS})</h2>",
        _html_table(data["permissions"], PERMISSION_COLUMNS),
        f"<h2>Failed apps ({len(failures)})</h2>", _html_table(failures.head(MAX_FAILURES), FAILURE_COLUMNS),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\"><title>Corpus report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
