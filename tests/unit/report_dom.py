"""A small DOM for the report tests: parse a page (ours, or Chromium's `--dump-dom` of it) into
elements and find them by tag, class and `data-*` attributes, so the tests read what a browser
shows rather than matching the template's text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}  # HTML void elements


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    parts: list[str | Element] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(part if isinstance(part, str) else part.text for part in self.parts)

    def data(self, name: str) -> str:
        return self.attrs[f"data-{name}"]

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def all(self, tag: str | None = None, cls: str | None = None, **data: str) -> list[Element]:
        """Every descendant matching the tag, the class and `data_<name>=value` attributes."""
        found = []
        for child in self.children:
            if ((tag is None or child.tag == tag) and (cls is None or cls in child.classes())
                    and all(child.attrs.get("data-" + k.replace("_", "-")) == v for k, v in data.items())):
                found.append(child)
            found += child.all(tag, cls, **data)
        return found

    def by_id(self, value: str) -> Element:
        found = [element for element in self.all() if element.attrs.get("id") == value]
        assert len(found) == 1, f"expected one element #{value}, found {len(found)}"
        return found[0]

    def one(self, tag: str | None = None, cls: str | None = None, **data: str) -> Element:
        found = self.all(tag, cls, **data)
        assert len(found) == 1, f"expected one {tag or ''}.{cls or ''} {data}, found {len(found)}"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
