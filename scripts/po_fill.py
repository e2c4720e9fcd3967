"""Fill translations into the Ukrainian catalogue from a JSON file, then the catalogue is ready to compile.

    .venv/bin/python scripts/po_fill.py translations.json [--po kramar/locale/uk/LC_MESSAGES/django.po]

The JSON maps a msgid (or "context\\x04msgid" for pgettext) to its translation: a string, or a list of three
strings for a plural entry (one, few, many). Only entries whose msgid is in the file change: their msgstr is
replaced and their "fuzzy" flag and previous-msgid lines dropped. Prints what it filled and what of the file it
did not find."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from i18n_check import _unquote  # noqa: E402

PO = Path(__file__).resolve().parent.parent / "kramar/locale/uk/LC_MESSAGES/django.po"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _strings(lines: list[str], keyword: str) -> str | None:
    """The value of `keyword` (msgid, msgctxt …) in one entry's lines, continuation lines included."""
    out, inside = None, False
    for line in lines:
        if line.startswith(keyword + " "):
            out, inside = _unquote(line[len(keyword) + 1:]), True
        elif inside and line.startswith('"'):
            out += _unquote(line)
        else:
            inside = False
    return out


def fill(po: Path, translations: dict[str, str | list[str]]) -> tuple[list[str], list[str]]:
    blocks = po.read_text(encoding="utf-8").split("\n\n")
    filled: list[str] = []
    for i, block in enumerate(blocks):
        lines = block.split("\n")
        msgid = _strings(lines, "msgid")
        if not msgid:
            continue
        ctxt = _strings(lines, "msgctxt")
        key = f"{ctxt}\x04{msgid}" if ctxt is not None else msgid
        if key not in translations:
            continue
        value = translations[key]
        head = []
        for line in lines:
            if line.startswith("msgstr"):
                break
            if line.startswith("#|"):
                continue
            if line.startswith("#,"):
                flags = [f.strip() for f in line[2:].split(",") if f.strip() and f.strip() != "fuzzy"]
                if not flags:
                    continue
                line = "#, " + ", ".join(flags)
            head.append(line)
        if isinstance(value, list):
            body = [f"msgstr[{n}] {_quote(v)}" for n, v in enumerate(value)]
        else:
            body = [f"msgstr {_quote(value)}"]
        blocks[i] = "\n".join(head + body)
        filled.append(key)
    po.write_text("\n\n".join(blocks), encoding="utf-8")
    missing = [k for k in translations if k not in filled]
    return filled, missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_file")
    parser.add_argument("--po", default=str(PO))
    args = parser.parse_args()
    translations = json.loads(Path(args.json_file).read_text(encoding="utf-8"))
    filled, missing = fill(Path(args.po), translations)
    print(f"filled {len(filled)}")
    for key in missing:
        print(f"not in the catalogue: {key!r}")
    return 0 if not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
