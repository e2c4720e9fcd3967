#!/usr/bin/env python
"""Checks the Ukrainian catalogue against itself, its compiled form and the sources.

    .venv/bin/python scripts/i18n_check.py              # every check
    .venv/bin/python scripts/i18n_check.py --no-sources # skip the makemessages comparison (faster)
    .venv/bin/python scripts/i18n_check.py --ignore 'kramar/sales/*'  # leave an app's sources out of the
                                                        # comparison (while its strings are not merged yet)

Fails (exit status 1) and lists the msgids when:
- an entry of kramar/locale/uk/LC_MESSAGES/*.po is untranslated (any msgstr empty) or fuzzy;
- `msgfmt --check` rejects a .po file;
- a compiled .mo is missing or doesn't hold exactly what its .po says (run compilemessages);
- the catalogue is out of date with the sources: makemessages, run into a temporary copy of the
  locale folder, finds msgids that the .po lacks or the .po holds msgids no source has any more.
"""

from __future__ import annotations

import argparse
import fnmatch
import gettext
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "kramar" / "locale"
LANGUAGE = "uk"
DOMAINS = ("django", "djangojs")
# The folders the documented makemessages command leaves out, third-party JS, and our own locale folder
# (makemessages otherwise adopts every folder named "locale" it walks past and writes there).
IGNORE = [".venv", "benchmarks", "data", "node_modules", "kramar/static/vendor", "kramar/locale"]
PLURAL_FORMS = (
    "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
)


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)
    obsolete: bool = False

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values())

    def label(self) -> str:
        text = self.msgid if self.msgctxt is None else f"[{self.msgctxt}] {self.msgid}"
        where = f"  ({self.references[0]})" if self.references else ""
        return f"{text!r}{where}"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"not a PO string: {text!r}")
    out, chars, i = [], text[1:-1], 0
    while i < len(chars):
        ch = chars[i]
        if ch == "\\" and i + 1 < len(chars):
            out.append(_ESCAPES.get(chars[i + 1], chars[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_po(path: Path) -> tuple[dict[str, str], list[Entry]]:
    """A small PO reader: returns (header fields, entries without the header). Obsolete entries are kept
    with obsolete=True."""
    entries: list[Entry] = []
    current: dict = {}
    keyword: tuple[str, int | None] | None = None

    def flush():
        nonlocal current, keyword
        if "msgid" in current:
            entries.append(
                Entry(
                    msgid=current["msgid"],
                    msgctxt=current.get("msgctxt"),
                    msgid_plural=current.get("msgid_plural"),
                    msgstr=current.get("msgstr", {}),
                    flags=current.get("flags", set()),
                    references=current.get("references", []),
                    obsolete=current.get("obsolete", False),
                )
            )
        current, keyword = {}, None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        obsolete = False
        if line.startswith("#~"):
            obsolete, line = True, line[2:].strip()
            if line.startswith("|"):
                continue
        if not line:
            flush()
            continue
        if line.startswith("#"):
            if "msgid" in current and keyword is not None and keyword[0] == "msgstr":
                flush()
            if line.startswith("#,"):
                current.setdefault("flags", set()).update(f.strip() for f in line[2:].split(",") if f.strip())
            elif line.startswith("#:"):
                current.setdefault("references", []).extend(line[2:].split())
            continue
        if obsolete:
            current["obsolete"] = True
        if line.startswith('"'):
            if keyword is None:
                raise ValueError(f"{path}: string without a keyword: {raw!r}")
            name, index = keyword
            if name == "msgstr":
                current["msgstr"][index] += _unquote(line)
            else:
                current[name] += _unquote(line)
            continue
        word, _, rest = line.partition(" ")
        if word in ("msgctxt", "msgid") and "msgid" in current and keyword and keyword[0] == "msgstr":
            flush()
            if obsolete:
                current["obsolete"] = True
        if word.startswith("msgstr"):
            index = int(word[7:-1]) if word.startswith("msgstr[") else 0
            current.setdefault("msgstr", {})[index] = _unquote(rest)
            keyword = ("msgstr", index)
        elif word in ("msgctxt", "msgid", "msgid_plural"):
            current[word] = _unquote(rest)
            keyword = (word, None)
        else:
            raise ValueError(f"{path}: unexpected line {raw!r}")
    flush()

    header: dict[str, str] = {}
    body = []
    for entry in entries:
        if entry.msgid == "" and entry.msgctxt is None and not entry.obsolete:
            for line in entry.msgstr.get(0, "").splitlines():
                name, _, value = line.partition(":")
                header[name.strip()] = value.strip()
        else:
            body.append(entry)
    return header, body


def catalogue_problems(path: Path) -> list[str]:
    """Untranslated or fuzzy entries, a wrong Plural-Forms header, plural entries with the wrong number
    of forms."""
    header, entries = parse_po(path)
    problems = []
    if header.get("Plural-Forms", "").replace(" ", "") != PLURAL_FORMS.replace(" ", ""):
        problems.append(f"{path.name}: Plural-Forms header is {header.get('Plural-Forms')!r}")
    for entry in entries:
        if entry.obsolete:
            problems.append(f"obsolete: {entry.label()}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {entry.label()}")
        elif not entry.translated:
            problems.append(f"untranslated: {entry.label()}")
        elif entry.msgid_plural is not None and sorted(entry.msgstr) != [0, 1, 2]:
            problems.append(f"needs 3 plural forms: {entry.label()}")
        else:
            expected = placeholders(entry.msgid) | placeholders(entry.msgid_plural or "")
            for text in entry.msgstr.values():
                if placeholders(text) != expected:
                    problems.append(f"placeholders differ ({sorted(placeholders(text))}): {entry.label()}")
                    break
    return problems


_PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%[sd]|\{[A-Za-z_]\w*\}")


def placeholders(text: str) -> set[str]:
    """%(name)s, %d and {name} placeholders of a message (%% is not one)."""
    return set(_PLACEHOLDER.findall(text.replace("%%", "")))


def msgfmt_problems(path: Path) -> list[str]:
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        return ["msgfmt is not installed (GNU gettext): cannot check the catalogue"]
    result = subprocess.run(  # noqa: S603 (our own tool on our own file)
        [msgfmt, "--check", "-o", os.devnull, str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode:
        return [f"msgfmt --check {path.name}: {result.stderr.strip()}"]
    return []


def compiled_problems(path: Path) -> list[str]:
    """The .mo next to the .po must give every translated entry exactly as the .po has it (compared by
    content: file times mean nothing after a git checkout)."""
    mo_path = path.with_suffix(".mo")
    if not mo_path.exists():
        return [f"{mo_path.name} is missing: run compilemessages"]
    with mo_path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    catalog = compiled._catalog  # the parsed .mo, keyed as msgfmt wrote it
    _, entries = parse_po(path)
    wrong = []
    expected_keys = set()
    for entry in entries:
        if entry.obsolete or entry.fuzzy or not entry.translated:
            continue
        base = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            expected_keys.add(base)
            if catalog.get(base) != entry.msgstr[0]:
                wrong.append(f"{mo_path.name} differs from {path.name}: {entry.label()}")
        else:
            for index, text in entry.msgstr.items():
                expected_keys.add((base, index))
                if catalog.get((base, index)) != text:
                    wrong.append(f"{mo_path.name} differs from {path.name}: {entry.label()}[{index}]")
    extra = {key for key in catalog if key != "" and key not in expected_keys}
    if extra:
        wrong.append(f"{mo_path.name} holds {len(extra)} entries {path.name} doesn't: run compilemessages")
    return wrong


def _only_in(entry: Entry, patterns: list[str]) -> bool:
    """Whether every source reference of the entry lies in a path matching one of the (glob) patterns."""
    paths = [ref.rsplit(":", 1)[0] for ref in entry.references]
    return bool(paths) and all(
        any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.rstrip("/*") + "/*") for pattern in patterns)
        for path in paths
    )


def source_problems(ignore: list[str] | None = None) -> list[str]:
    """Runs makemessages into a temporary copy of the locale folder and compares the msgid sets. `ignore`: more
    glob patterns of source paths to leave out (and catalogue entries found only there are not reported)."""
    ignore = list(ignore or [])
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kramar.config.settings.base")
    import django
    from django.core.management import call_command
    from django.test.utils import override_settings

    django.setup()
    problems = []
    with tempfile.TemporaryDirectory(prefix="kramar-i18n-") as tmp:
        temp_locale = Path(tmp) / "locale"
        if LOCALE_DIR.exists():
            shutil.copytree(LOCALE_DIR, temp_locale)
        else:
            temp_locale.mkdir()
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            with override_settings(LOCALE_PATHS=[str(temp_locale)]):
                for domain in DOMAINS:
                    call_command(
                        "makemessages",
                        locale=[LANGUAGE],
                        domain=domain,
                        ignore_patterns=IGNORE + ignore,
                        no_obsolete=True,
                        verbosity=0,
                    )
        finally:
            os.chdir(cwd)
        for domain in DOMAINS:
            fresh_path = temp_locale / LANGUAGE / "LC_MESSAGES" / f"{domain}.po"
            ours_path = LOCALE_DIR / LANGUAGE / "LC_MESSAGES" / f"{domain}.po"
            fresh = {e.key: e for e in parse_po(fresh_path)[1]} if fresh_path.exists() else {}
            ours = {e.key: e for e in parse_po(ours_path)[1] if not e.obsolete} if ours_path.exists() else {}
            for key in sorted(fresh.keys() - ours.keys(), key=str):
                problems.append(f"{domain}.po lacks (new in the sources): {fresh[key].label()}")
            for key in sorted(ours.keys() - fresh.keys(), key=str):
                if ignore and _only_in(ours[key], ignore):
                    continue
                problems.append(f"{domain}.po holds (gone from the sources): {ours[key].label()}")
    return problems


# xgettext (behind makemessages) finds calls by name: `_`, `gettext`, `gettext_lazy`, `pgettext`, … A translation
# function imported under another name hides its strings from the catalogue without any error.
KEYWORDS = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy", "pgettext",
            "pgettext_lazy", "npgettext", "npgettext_lazy"}
ALIAS = re.compile(r"\b(n?p?gettext(?:_lazy|_noop)?)\s+as\s+(\w+)")


def alias_problems() -> list[str]:
    """Translation functions imported under a name xgettext does not know."""
    problems = []
    for path in sorted((ROOT / "kramar").rglob("*.py")):
        if any(part in {"locale", "migrations"} for part in path.parts):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for function, alias in ALIAS.findall(line):
                if alias not in KEYWORDS:
                    problems.append(
                        f"{path.relative_to(ROOT)}:{number}: {function} imported as {alias!r}, which makemessages "
                        "does not extract; import it as _ or by its own name"
                    )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-sources", action="store_true", help="skip the makemessages comparison")
    parser.add_argument(
        "--ignore", action="append", default=[], metavar="PATTERN",
        help="leave sources matching this glob (e.g. 'kramar/sales/*') out of the makemessages comparison; repeatable",
    )
    args = parser.parse_args(argv)

    problems: list[str] = []
    po_files = [LOCALE_DIR / LANGUAGE / "LC_MESSAGES" / f"{domain}.po" for domain in DOMAINS]
    if not po_files[0].exists():
        problems.append(f"{po_files[0]} is missing")
    for path in po_files:
        if path.exists():
            problems += catalogue_problems(path) + msgfmt_problems(path) + compiled_problems(path)
    problems += alias_problems()
    if not args.no_sources:
        problems += source_problems(args.ignore)

    for problem in problems:
        print(problem)
    if problems:
        print(f"i18n check FAILED: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    counts = ", ".join(f"{p.name}: {len(parse_po(p)[1])} entries" for p in po_files if p.exists())
    print(f"i18n check passed ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
