#!/usr/bin/env python3
"""Render a `tmux capture-pane -e -p` capture (ANSI SGR colours) as an HTML <pre>, for
the README's terminal screenshot: `python3 ansi2html.py < pane.ansi > pane.html`, then
`chromium --headless --screenshot=demo.png --window-size=840,560 pane.html`."""
import html
import re
import sys

COLOURS = {30: "#2e3436", 31: "#ef5350", 32: "#8ae234", 33: "#fce94f", 34: "#729fcf",
           35: "#ad7fa8", 36: "#34e2e2", 37: "#eeeeec", 39: None}

def render(text):
    out, fg, bold, dim = [], None, False, False
    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        m = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
        if m:
            for code in [int(c) if c else 0 for c in m.group(1).split(";")]:
                if code == 0:
                    fg, bold, dim = None, False, False
                elif code == 1:
                    bold = True
                elif code == 2:
                    dim = True
                elif code in (22,):
                    bold = dim = False
                elif code in COLOURS:
                    fg = COLOURS[code]
            continue
        if not part:
            continue
        style = []
        if fg:
            style.append(f"color:{fg}")
        if bold:
            style.append("font-weight:bold")
        if dim:
            style.append("opacity:0.6")
        t = html.escape(part)
        out.append(f'<span style="{";".join(style)}">{t}</span>' if style else t)
    return "".join(out)

text = sys.stdin.read().rstrip("\n") + "\n"
print("""<!doctype html><meta charset="utf-8"><style>
body{margin:0;background:#1e1e1e}
pre{margin:0;padding:14px 16px;color:#eeeeec;font:17px/1.25 "DejaVu Sans Mono",monospace}
</style><pre>""" + render(text) + "</pre>")
