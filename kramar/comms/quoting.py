"""Plain-text quoting of the message a reply answers, as mail programs do: the original's text with "> " before
each line (an already quoted line gets one more ">"), cut after `QUOTE_LINES` lines or `QUOTE_CHARS` characters
with a "[…]" line. An HTML-only original is first converted to text (`html_to_text`): blocks and <br> become
lines, list items "- ", a <blockquote> quoted lines, scripts and styles dropped, entities decoded.

Pure text functions: `conversation_reply` (services.py) picks the message, its text and the attribution line."""

from __future__ import annotations

from html.parser import HTMLParser

QUOTE_LINES = 200
QUOTE_CHARS = 20_000
CUT = "[…]"

_BREAK = {"address", "article", "aside", "dd", "div", "dl", "dt", "figure", "footer", "form", "h1", "h2", "h3",
          "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "section", "table", "tr", "ul"}
_PARAGRAPH = {"p", "pre", "blockquote", "table", "h1", "h2", "h3", "h4", "h5", "h6"}  # a blank line after
_SKIP = {"head", "noscript", "script", "style", "template", "title"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.words: list[str] = []
        self.depth = 0  # <blockquote> nesting
        self.pre = 0
        self.skip = 0

    def flush(self, *, blank: bool = False) -> None:
        text = "".join(self.words)
        self.words = []
        if not self.pre:
            text = " ".join(text.split())
        if text or blank:
            self.lines.append(">" * self.depth + (" " if self.depth and text else "") + text)

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.flush(blank=True)
        elif tag == "li":
            self.flush()
            self.words.append("- ")
        elif tag in ("td", "th"):
            self.words.append(" ")
        elif tag in _BREAK or tag in _PARAGRAPH:
            self.flush()
            if tag == "blockquote":
                self.depth += 1
            elif tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in _SKIP:
            self.skip -= 1

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "li" or tag in _BREAK or tag in _PARAGRAPH:
            self.flush()
            if tag == "blockquote":
                self.depth = max(0, self.depth - 1)
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)
            if tag in _PARAGRAPH:
                self.lines.append("")

    def handle_data(self, data):
        if self.skip:
            return
        if self.pre:
            first, *rest = data.split("\n")
            self.words.append(first)
            for line in rest:
                self.flush(blank=True)
                self.words.append(line)
        else:
            self.words.append(data)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body (see the module docstring); blank lines collapsed to one."""
    parser = _Text()
    parser.feed(html or "")
    parser.close()
    parser.flush()
    out: list[str] = []
    for line in (line.rstrip() for line in parser.lines):
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


def quote_text(text: str, *, max_lines: int = QUOTE_LINES, max_chars: int = QUOTE_CHARS) -> str:
    """`text` quoted line by line ("> line"; ">" before a quoted line and for an empty one), without the blank
    lines around it, cut after `max_lines` lines or `max_chars` characters (at a line end, or a word end inside
    one long line) with a "> […]" line."""
    lines = [line.rstrip() for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    kept: list[str] = []
    size = 0
    for line in lines:
        if len(kept) == max_lines or size + len(line) > max_chars:
            if not kept:  # one line longer than the whole limit: up to the last word end that fits
                kept.append(line[:max_chars].rsplit(" ", 1)[0] if " " in line[:max_chars] else line[:max_chars])
            kept.append(CUT)
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(">" + ("" if not line or line.startswith(">") else " ") + line for line in kept)
