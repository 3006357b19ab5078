"""Output that fits a terminal and an issue: tables, lines and lists within a width (120 columns).

Rendering only. A table too wide is first given headers on several lines (each no wider than its
column's widest cell), then its widest columns are narrowed: cells with spaces are wrapped by
tabulate (``maxcolwidths``), names without spaces (op names, paths) are shortened in the middle
with ``…`` so both ends stay readable. In Markdown, a header's line breaks are ``<br>`` and cells
are not wrapped (a GitHub table cannot hold a newline; it wraps cells itself), names are shortened
alike. Text and list items are wrapped at word boundaries; a word longer
than the width (a path) is never broken.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from tabulate import tabulate

__all__ = [
    "WIDTH",
    "counted",
    "current_width",
    "elide_middle",
    "fit_table",
    "heading",
    "set_width",
    "wrap_item",
    "wrap_text",
]

#: The default width of text output; ``--wide`` (None) keeps every line whole.
WIDTH = 120
_setting: dict[str, int | None] = {"width": WIDTH}


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless the count is one: ``counted(1, "probe step")`` is
    "1 probe step", ``counted(3, "probe step")`` "3 probe steps"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def set_width(width: int | None) -> None:
    """The width every renderer fits to from now on (None: ``--wide``, every line whole)."""
    _setting["width"] = width


def current_width() -> int | None:
    """The width set by :func:`set_width` (120 unless changed)."""
    return _setting["width"]


class _Current:
    """The default ``width`` argument: whatever :func:`current_width` says when called."""


CURRENT = _Current()


def _resolve(width: int | None | _Current) -> int | None:
    return current_width() if isinstance(width, _Current) else width


#: The narrowest a column is made.
MIN_COLUMN = 10
_SEPARATOR = {"simple": 2, "github": 3}


def elide_middle(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters by a ``…`` in its middle (both ends kept)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[: max(width, 0)]
    kept = width - 1
    head = (kept + 1) // 2
    tail = kept - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def _width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _wrap_header(header: str, width: int) -> str:
    return "\n".join(textwrap.wrap(header, width=max(width, 1), break_long_words=False)) or header


def fit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    markdown: bool = False,
    width: int | None | _Current = CURRENT,
) -> str:
    """A table (tabulate ``simple``, or ``github`` for Markdown) made to fit ``width`` columns."""
    width = _resolve(width)
    fmt = "github" if markdown else "simple"
    headers, rows = [str(h) for h in headers], [[str(cell) for cell in row] for row in rows]

    def render(
        heads: list[str], body: Sequence[Sequence[str]], limits: list[int | None] | None = None
    ) -> str:
        if markdown:
            heads = [h.replace("\n", "<br>") for h in heads]
        return tabulate(body, headers=heads, tablefmt=fmt, disable_numparse=True, maxcolwidths=limits)

    whole = render(headers, rows)
    if width is None or _width(whole) <= width:
        return whole
    columns = len(headers)
    cells = [max((len(row[i]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    words = [max((len(word) for word in h.split()), default=0) for h in headers]
    budget = width - _SEPARATOR[fmt] * (columns - 1) - (4 if markdown else 0)
    text = whole
    for _ in range(4):  # tabulate pads some columns: give back what the last try ran over
        widths = _narrowed([max(cells[i], len(headers[i])) for i in range(columns)], cells, words, budget)
        heads = [_wrap_header(h, widths[i]) for i, h in enumerate(headers)]
        body = [
            [
                elide_middle(cell, widths[i]) if len(cell) > widths[i] and " " not in cell.strip() else cell
                for i, cell in enumerate(row)
            ]
            for row in rows
        ]
        # Markdown cells cannot hold a line break: there only names are shortened (GitHub wraps the rest)
        limits: list[int | None] = [
            w if w < cells[i] and not markdown else None for i, w in enumerate(widths)
        ]
        text = render(heads, body, limits if any(limits) else None)
        over = _width(text) - width
        if over <= 0 or markdown:
            break
        budget -= over
    return text


def _narrowed(widths: list[int], cells: list[int], words: list[int], budget: int) -> list[int]:
    """Column widths within ``budget``: the widest headers wrapped first, down to their cells (and
    their longest word); then the widest columns, down to :data:`MIN_COLUMN`."""
    columns = range(len(widths))
    for floor in ([max(cells[i], words[i], MIN_COLUMN) for i in columns], [MIN_COLUMN] * len(widths)):
        while sum(widths) > budget:
            narrowable = [i for i in columns if widths[i] > floor[i]]
            if not narrowable:
                break
            widths[max(narrowable, key=lambda i: widths[i])] -= 1
    return widths


def wrap_text(text: str, width: int | None | _Current = CURRENT) -> str:
    """A paragraph wrapped at ``width`` (words longer than the width, such as paths, stay whole)."""
    width = _resolve(width)
    if width is None or len(text) <= width:
        return text
    return "\n".join(
        textwrap.fill(line, width=width, break_long_words=False, break_on_hyphens=False) if line else line
        for line in text.splitlines()
    )


def heading(title: str, markdown: bool, width: int | None | _Current = CURRENT) -> str:
    """A section title: ``### title`` in Markdown (GitHub wraps it), else the title wrapped at
    ``width`` and underlined as long as its longest line."""
    if markdown:
        return f"### {title}"
    wrapped = wrap_text(title, width)
    return f"{wrapped}\n{'-' * max(map(len, wrapped.splitlines()))}"


def wrap_item(item: str, width: int | None | _Current = CURRENT) -> str:
    """A list item ``- item`` wrapped at ``width``, continuation lines indented under its text."""
    width = _resolve(width)
    if width is None or len(item) + 2 <= width:
        return f"- {item}"
    return textwrap.fill(
        item,
        width=width,
        initial_indent="- ",
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
    )
