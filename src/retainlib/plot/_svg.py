"""A figure as inline SVG text, for HTML pages that must not fetch anything."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any, Final, cast

from retainlib.errors import OptionError
from retainlib.plot._common import STYLE, require_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The SVG namespace, the one address the text keeps (an ``<svg>`` element needs it outside HTML).
SVG_NAMESPACE: Final = "http://www.w3.org/2000/svg"
_XLINK_DECLARATION: Final = re.compile(r'\s+xmlns:xlink="http://www\.w3\.org/1999/xlink"')


def to_svg(fig: Figure) -> str:
    """The figure as one ``<svg>`` element, ready to inline in an HTML page or save as an ``.svg`` file.

    The text starts at ``<svg`` (no XML declaration and no DOCTYPE, whose DTD address a browser could
    try to fetch) and refers to nothing outside itself: text is drawn as glyph paths (DejaVu Sans, which
    ships with matplotlib), images are embedded, links use SVG 2's ``href`` (so the only address left
    is the SVG namespace), and no metadata (creation date, creator) is written.  Element ids are
    derived from the content with a fixed salt, so the same figure gives the same text on every run.

    >>> import retainlib as rl, retainlib.plot as rlp
    >>> from retainlib.samples import synthetic_store
    >>> svg = rlp.to_svg(rlp.cohort_heatmap(rl.cohort_retention(synthetic_store(customers=200), period="quarter")))
    >>> svg.startswith("<svg"), svg.rstrip().endswith("</svg>")
    (True, True)
    """
    require_matplotlib()
    import matplotlib as mpl
    from matplotlib.figure import Figure, SubFigure

    if isinstance(fig, SubFigure):
        fig = fig.get_figure(root=True)
    if not isinstance(fig, Figure):
        raise OptionError(f"to_svg takes a matplotlib Figure, got {type(fig).__name__}", option="fig", value=fig)
    buffer = io.StringIO()
    settings: dict[str, object] = {key: STYLE[key] for key in ("svg.fonttype", "svg.hashsalt", "svg.image_inline")}
    settings["svg.id"] = None
    with mpl.rc_context(cast("Any", settings)):
        fig.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = _XLINK_DECLARATION.sub("", text, count=1)
    return text.replace("xlink:href=", "href=")
