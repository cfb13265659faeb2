"""How ./edm bench rewrites docs/benchmarks.md without losing what it did not
measure: a run replaces only the sections of the parts it ran (each then says
which run recorded it), keeps every other section as it was, and keeps the
notes written by hand below a section's NOTES marker.
"""

# Written by hand below this line, a section's notes survive every rewrite.
NOTES = "<!-- notes: ./edm bench keeps what follows, up to the next section -->"

PARTS = ("relay", "stats", "stream", "trending", "stack")

# The part whose run writes a section, by how its heading starts. Sections of
# no part (the title, the machine and tools) are rewritten by every run.
OWNERS = (
    ("## edm-relay", "relay"),
    ("## edm-stats", "stats"),
    ("## edm-stream", "stream"),
    ("## edm-trending", "trending"),
    ("## The whole stack", "stack"),
    ("## Memory", "stack"),
    ("## Start-up", "stack"),
)


def parts_of(what):
    """The parts a run of `./edm bench WHAT` measures."""
    if what == "all":
        return set(PARTS)
    if what not in PARTS:
        raise ValueError(f"unknown part {what!r}: one of {', '.join(PARTS)} or all")
    return {what}


def owner(heading):
    return next((part for start, part in OWNERS if heading.startswith(start)), None)


def split(text):
    """(heading, lines) of each section, the heading line first; the text
    before the first heading has the heading ""."""
    sections = [("", [])]
    for line in text.splitlines():
        if line.startswith("## "):
            sections.append((line, []))
        sections[-1][1].append(line)
    return sections


def notes(lines):
    """The section's hand-written notes (the marker on), without the blank
    lines that end it."""
    if NOTES not in lines:
        return []
    kept = lines[lines.index(NOTES):]
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def rendered(lines, recorded, old_lines):
    """A freshly rendered section: its heading, the line saying which run
    recorded it, its figures, then the notes the old one had."""
    body = lines[1:]
    while body and not body[-1].strip():
        body.pop()
    kept = notes(old_lines)
    return [lines[0], "", recorded] + body + ([""] + kept if kept else []) + [""]


def merge(old, new, what, recorded):
    """docs/benchmarks.md after `./edm bench WHAT`: `new` is every section
    rendered from the figures at hand (stale ones included), `old` the file
    as it was (None when there was none)."""
    parts = parts_of(what)
    after = split(new)
    fresh = dict(after)
    before = split(old) if old is not None else []
    known = {heading for heading, _ in before}
    out = []
    # The file's own order, each section new or kept; then sections it lacks.
    for heading, lines in before + [(h, l) for h, l in after if h not in known]:
        part = owner(heading)
        if heading in fresh and part is None:
            out += fresh[heading]
        elif heading in fresh and part in parts:
            out += rendered(fresh[heading], recorded, lines if heading in known else [])
        else:
            out += lines
    return "\n".join(out).rstrip("\n") + "\n"
