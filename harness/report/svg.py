"""Small inline SVG charts for the HTML report: no JavaScript, no network, no plotting library.

A :class:`Chart` maps a data domain onto a plot area and collects SVG elements: shaded bands
(a tolerance), limit lines, points, polylines, step lines and bars; :meth:`Chart.render` adds
the axes with round-number ticks. Styling is by class names that the report's CSS defines
(``band``, ``limit``, ``ok``, ``bad``, ``line``, ``marker``...). Points may carry a
``<title>``, which browsers show on hover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["Chart", "nice_ticks"]


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round-number ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


_MANY = 2000  # more points than this are thinned to what the pixels can show


def _envelope(pixels: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A long line thinned per pixel column to its first, lowest, highest and last point
    (in x order): the same drawing, a bounded number of points."""
    out: list[tuple[float, float]] = []
    column: list[tuple[float, float]] = []
    current = None
    for point in [*pixels, (math.inf, 0.0)]:
        col = round(point[0]) if point[0] != math.inf else None
        if col != current and column:
            lo = min(column, key=lambda p: p[1])
            hi = max(column, key=lambda p: p[1])
            keep = [column[0], *sorted({lo, hi} - {column[0], column[-1]}), column[-1]]
            out.extend(dict.fromkeys(keep))
            column = []
        current = col
        column.append(point)
    return out


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.3g}"


def _label(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text in ("-0", "0") else text


class Chart:
    """One plot: x and y domains, an SVG size, axis titles."""

    LEFT, RIGHT, TOP, BOTTOM = 62, 16, 44, 40

    def __init__(
        self,
        x: tuple[float, float],
        y: tuple[float, float],
        *,
        title: str,
        x_label: str,
        y_label: str,
        width: int = 620,
        height: int = 240,
        left: int = 62,
    ) -> None:
        self.LEFT = left  # room for the y tick labels
        x0, x1 = x
        y0, y1 = y
        if not x1 > x0:
            x0, x1 = x0 - 0.5, x0 + 0.5
        if not y1 > y0:
            y0, y1 = y0 - 0.5, y0 + 0.5
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.title = title
        self.x_label = x_label
        self.y_label = y_label
        self.width = width
        self.height = height
        self.items: list[str] = []
        self.legend: list[tuple[str, str]] = []

    # -- coordinates -------------------------------------------------------------------------
    @property
    def plot_w(self) -> float:
        return self.width - self.LEFT - self.RIGHT

    @property
    def plot_h(self) -> float:
        return self.height - self.TOP - self.BOTTOM

    def px(self, x: float) -> float:
        frac = (x - self.x0) / (self.x1 - self.x0)
        return self.LEFT + min(max(frac, -0.02), 1.02) * self.plot_w

    def py(self, y: float) -> float:
        frac = (y - self.y0) / (self.y1 - self.y0)
        return self.TOP + (1.0 - min(max(frac, -0.04), 1.04)) * self.plot_h

    # -- elements ----------------------------------------------------------------------------
    def key(self, css: str, text: str) -> None:
        """A legend entry: a swatch of class ``css`` and its meaning."""
        self.legend.append((css, text))

    def band(self, lo: float, hi: float, css: str = "band") -> None:
        """A horizontal band from y=lo to y=hi (the tolerance)."""
        top, bottom = self.py(hi), self.py(lo)
        self.items.append(
            f'<rect class="{css}" x="{self.LEFT}" y="{_fmt(top)}" '
            f'width="{_fmt(self.plot_w)}" height="{_fmt(max(bottom - top, 1.0))}"/>'
        )

    def vspan(self, x0: float, x1: float, css: str = "band") -> None:
        left, right = self.px(x0), self.px(x1)
        self.items.append(
            f'<rect class="{css}" x="{_fmt(left)}" y="{self.TOP}" '
            f'width="{_fmt(max(right - left, 1.0))}" height="{_fmt(self.plot_h)}"/>'
        )

    def hline(self, y: float, css: str = "limit", text: str = "") -> None:
        py = _fmt(self.py(y))
        self.items.append(
            f'<line class="{css}" x1="{self.LEFT}" x2="{_fmt(self.LEFT + self.plot_w)}" '
            f'y1="{py}" y2="{py}"/>'
        )
        if text:
            self.items.append(
                f'<text class="note" x="{_fmt(self.LEFT + self.plot_w - 4)}" '
                f'y="{_fmt(float(py) - 4)}" text-anchor="end">{escape(text)}</text>'
            )

    def vline(self, x: float, css: str = "marker", text: str = "") -> None:
        px = _fmt(self.px(x))
        self.items.append(
            f'<line class="{css}" x1="{px}" x2="{px}" y1="{self.TOP}" '
            f'y2="{_fmt(self.TOP + self.plot_h)}"/>'
        )
        if text:
            self.items.append(
                f'<text class="note" x="{_fmt(float(px) + 3)}" y="{self.TOP + 11}">'
                f"{escape(text)}</text>"
            )

    def points(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        css: str = "ok",
        titles: Sequence[str] | None = None,
    ) -> None:
        """Dots; many of them become one path (small files), few get hover titles."""
        if not xs:
            return
        if titles is None and len(xs) > 400:
            if len(xs) > _MANY:  # hours of frames: one dot per pixel, which looks the same
                cells = dict.fromkeys(
                    (round(self.px(x)), round(self.py(y))) for x, y in zip(xs, ys, strict=True)
                )
                d = "".join(f"M{px} {py}h0" for px, py in cells)
            else:
                d = "".join(
                    f"M{_fmt(self.px(x))} {_fmt(self.py(y))}h0" for x, y in zip(xs, ys, strict=True)
                )
            self.items.append(f'<path class="{css} dots" d="{d}"/>')
            return
        for k, (x, y) in enumerate(zip(xs, ys, strict=True)):
            tip = f"<title>{escape(titles[k])}</title>" if titles else ""
            self.items.append(
                f'<circle class="{css}" cx="{_fmt(self.px(x))}" cy="{_fmt(self.py(y))}" r="2.6">'
                f"{tip}</circle>"
            )

    def polyline(self, xs: Sequence[float], ys: Sequence[float], css: str = "line") -> None:
        if xs:
            pixels = [(self.px(x), self.py(y)) for x, y in zip(xs, ys, strict=True)]
            if len(pixels) > _MANY:
                pixels = _envelope(pixels)
            pts = " ".join(f"{_fmt(px)},{_fmt(py)}" for px, py in pixels)
            self.items.append(f'<polyline class="{css}" points="{pts}"/>')

    def steps(self, xs: Sequence[float], ys: Sequence[float], css: str = "line") -> None:
        """A value held from each x until the next (a signal sampled frame by frame)."""
        if not xs:
            return
        sx: list[float] = []
        sy: list[float] = []
        for k, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if k:
                sx.append(x)
                sy.append(sy[-1])
            sx.append(x)
            sy.append(y)
        self.polyline(sx, sy, css)

    def bar(self, x0: float, x1: float, y0: float, y1: float, css: str, tip: str = "") -> None:
        left, right = sorted((self.px(x0), self.px(x1)))
        top, bottom = sorted((self.py(y1), self.py(y0)))
        title = f"<title>{escape(tip)}</title>" if tip else ""
        self.items.append(
            f'<rect class="{css}" x="{_fmt(left)}" y="{_fmt(top)}" '
            f'width="{_fmt(max(right - left, 1.0))}" height="{_fmt(max(bottom - top, 0.5))}">'
            f"{title}</rect>"
        )

    def text(self, x: float, y: float, text: str, css: str = "note", anchor: str = "start") -> None:
        self.items.append(
            f'<text class="{css}" x="{_fmt(self.px(x))}" y="{_fmt(self.py(y))}" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )

    # -- output ------------------------------------------------------------------------------
    def _axes(self, y_ticks: Sequence[tuple[float, str]] | None) -> list[str]:
        out: list[str] = []
        bottom = self.TOP + self.plot_h
        right = self.LEFT + self.plot_w
        for t in nice_ticks(self.x0, self.x1, max(2, int(self.plot_w // 90))):
            px = _fmt(self.px(t))
            out.append(
                f'<line class="grid" x1="{px}" x2="{px}" y1="{self.TOP}" y2="{_fmt(bottom)}"/>'
            )
            out.append(
                f'<text class="tick" x="{px}" y="{_fmt(bottom + 14)}" text-anchor="middle">'
                f"{_label(t)}</text>"
            )
        ticks = y_ticks or [(t, _label(t)) for t in nice_ticks(self.y0, self.y1, 5)]
        for t, text in ticks:
            py = _fmt(self.py(t))
            out.append(
                f'<line class="grid" x1="{self.LEFT}" x2="{_fmt(right)}" y1="{py}" y2="{py}"/>'
            )
            out.append(
                f'<text class="tick" x="{self.LEFT - 5}" y="{_fmt(float(py) + 4)}" '
                f'text-anchor="end">{escape(text)}</text>'
            )
        out.append(
            f'<rect class="frame" x="{self.LEFT}" y="{self.TOP}" width="{_fmt(self.plot_w)}" '
            f'height="{_fmt(self.plot_h)}"/>'
        )
        out.append(
            f'<text class="axis" x="{_fmt(self.LEFT + self.plot_w / 2)}" y="{self.height - 6}" '
            f'text-anchor="middle">{escape(self.x_label)}</text>'
        )
        out.append(
            f'<text class="axis" transform="translate(14 {_fmt(self.TOP + self.plot_h / 2)}) '
            f'rotate(-90)" text-anchor="middle">{escape(self.y_label)}</text>'
        )
        return out

    def render(self, y_ticks: Sequence[tuple[float, str]] | None = None) -> str:
        legend: list[str] = []
        x = float(self.LEFT)
        for css, text in self.legend:  # a row under the title, left to right
            legend.append(
                f'<rect class="{css} swatch" x="{_fmt(x)}" y="25" width="12" height="10"/>'
                f'<text class="note" x="{_fmt(x + 16)}" y="34">{escape(text)}</text>'
            )
            x += 6.5 * len(text) + 34
        body = "".join([*self._axes(y_ticks), *self.items, *legend])
        return (
            f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" '
            f'height="{self.height}"><title>{escape(self.title)}</title>'
            f'<text class="title" x="8" y="16">{escape(self.title)}</text>'
            f"{body}</svg>"
        )
