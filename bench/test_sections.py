"""Checks of bench/sections.py: a partial ./edm bench run rewrites only its
own sections of docs/benchmarks.md and keeps hand-written notes.

    python3 -m unittest discover -s bench
"""
import unittest

from sections import NOTES, merge

OLD = f"""# Benchmarks

Old preamble.

## Machine and tools

- old machine

## edm-relay (issue 3)

Recorded by `./edm bench all` started 2026-11-22.

| relay | 22,000 |

## edm-stream: fan-out

Recorded by `./edm bench all` started 2026-11-22.

| stream | old |

{NOTES}

Why the stream figures are what they are.

## Start-up

| start | 4 ms |
"""

# What the report renders from .edm/bench: every section, stale ones included.
NEW = """# Benchmarks

New preamble.

## Machine and tools

- new machine

## edm-relay (issue 3)

| relay | stale |

## edm-stream: fan-out

| stream | new |

## edm-trending: windows with transactions (issue 18)

| trending | new |
"""

RECORDED = "Recorded by `./edm bench stream` started 2026-12-02 07:00 UTC."


class PartialRun(unittest.TestCase):
    def setUp(self):
        self.doc = merge(OLD, NEW, "stream", RECORDED)

    def test_other_parts_keep_their_figures(self):
        self.assertIn("| relay | 22,000 |", self.doc)
        self.assertNotIn("| relay | stale |", self.doc)
        self.assertIn("| start | 4 ms |", self.doc)

    def test_the_measured_part_gets_new_figures_and_says_which_run(self):
        section = self.doc.split("## edm-stream: fan-out")[1].split("\n## ")[0]
        self.assertIn("| stream | new |", section)
        self.assertNotIn("| stream | old |", section)
        self.assertIn(RECORDED, section)
        self.assertEqual(section.count("Recorded by"), 1)

    def test_hand_written_notes_survive_after_the_new_figures(self):
        self.assertLess(self.doc.index("| stream | new |"), self.doc.index(NOTES))
        self.assertIn("Why the stream figures are what they are.", self.doc)

    def test_the_machine_and_tools_are_the_latest_run(self):
        self.assertIn("- new machine", self.doc)
        self.assertNotIn("- old machine", self.doc)

    def test_sections_keep_their_order_and_new_ones_come_last(self):
        headings = [l for l in self.doc.splitlines() if l.startswith("## ")]
        self.assertEqual([h.split()[1] for h in headings],
                         ["Machine", "edm-relay", "edm-stream:", "Start-up", "edm-trending:"])

    def test_a_second_run_changes_nothing_more(self):
        self.assertEqual(merge(self.doc, NEW, "stream", RECORDED), self.doc)


class FullRun(unittest.TestCase):
    def test_every_part_is_rewritten_and_notes_kept(self):
        doc = merge(OLD, NEW, "all", "Recorded by `./edm bench all` started 2026-12-02.")
        self.assertIn("| relay | stale |", doc)
        self.assertIn("Why the stream figures are what they are.", doc)
        self.assertNotIn("2026-11-22", doc)

    def test_an_unknown_part_is_refused(self):
        with self.assertRaises(ValueError):
            merge(OLD, NEW, "relays", RECORDED)


if __name__ == "__main__":
    unittest.main()
