"""Turn `# review: <why>` comments on rules into `review:` keys (FORMAT.md):
`manage.py rulepack_review_comments [files…] [--write]`.

A comment inside a rule's block belongs to that rule; a comment just above a rule's
`- indication:` line belongs to the rule below it. Without --write, prints what it
would change. With it, writes the files and checks that the pack still validates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from guidelines.rulepack import RulePackInvalid, pack_files, packs_parse

COMMENT = re.compile(r"^(?P<indent>\s*)#\s*review\s*:\s*(?P<why>.+?)\s*$")
RULE_START = re.compile(r"^(?P<indent>\s*)- indication\s*:")
REVIEW_KEY = re.compile(r"^\s+review\s*:")


@dataclass(frozen=True)
class Conversion:
    line: int  # 1-based, of the comment
    rule_line: int  # 1-based, of the rule's "- indication:" line
    why: str


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def review_comments_convert(text: str) -> tuple[str, list[Conversion], list[str]]:
    """(the new text, what was converted, problems). Only the `rules:` section is read."""
    lines = text.split("\n")
    in_rules = False
    starts: list[int] = []  # indexes of "- indication:" lines in rules:
    comments: list[tuple[int, int, str]] = []  # (index, indentation, why)
    for index, line in enumerate(lines):
        if re.match(r"^[A-Za-z_]+\s*:", line):
            in_rules = line.startswith("rules")
            continue
        if not in_rules:
            continue
        if RULE_START.match(line):
            starts.append(index)
        elif (found := COMMENT.match(line)) is not None:
            comments.append((index, len(found["indent"]), found["why"]))
    problems: list[str] = []
    targets: dict[int, tuple[int, str]] = {}  # rule start -> (comment index, why)
    for index, indent, why in comments:
        after = [s for s in starts if s > index]
        before = [s for s in starts if s < index]
        between = lines[index + 1 : after[0]] if after else []
        if not starts:
            problems.append(f"line {index + 1}: a review comment outside any rule")
            continue
        dash = len(RULE_START.match(lines[starts[0]])["indent"])  # type: ignore[index]
        # At the dash's indentation, just above a rule (only blank or comment lines in
        # between): the rule below. Deeper: inside the block of the rule above.
        if (
            after
            and indent <= dash
            and all(not ln.strip() or ln.strip().startswith("#") for ln in between)
        ):
            rule = after[0]
        elif before and indent > dash:
            rule = before[-1]
        else:
            problems.append(f"line {index + 1}: a review comment outside any rule")
            continue
        end = next((s for s in starts if s > rule), len(lines))
        if any(REVIEW_KEY.match(ln) for ln in lines[rule:end]):
            problems.append(f"line {index + 1}: the rule at line {rule + 1} already has review:")
            continue
        if rule in targets:
            problems.append(f"line {index + 1}: a second review comment for line {rule + 1}")
            continue
        targets[rule] = (index, why)
    conversions = [Conversion(c + 1, r + 1, why) for r, (c, why) in sorted(targets.items())]
    # Edit from the bottom so earlier indexes stay right: drop the comment, add the key
    # right under the rule's first line (any place in the mapping is valid YAML).
    edits = sorted(
        [(c, "drop", "") for _r, (c, _w) in targets.items()]
        + [(r + 1, "insert", why) for r, (_c, why) in targets.items()],
        key=lambda edit: edit[0],
        reverse=True,
    )
    for index, action, why in edits:
        if action == "drop":
            del lines[index]
        else:
            indent = len(RULE_START.match(lines[index - 1])["indent"]) + 2  # type: ignore[index]
            lines.insert(index, " " * indent + f"review: {_quoted(why)}")
    return "\n".join(lines), conversions, problems


class Command(BaseCommand):
    help = "Turn '# review: <why>' comments on rules into review: keys (dry run without --write)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", type=Path, help="Pack files (default: all).")
        parser.add_argument("--write", action="store_true", help="Write the files.")

    def handle(self, *args: Any, **options: Any) -> None:
        paths: list[Path] = options["files"] or pack_files()
        changed: dict[Path, str] = {}
        problems: list[str] = []
        for path in paths:
            text = path.read_text(encoding="utf-8")
            new, conversions, found = review_comments_convert(text)
            problems += [f"{path.name}, {p}" for p in found]
            for c in conversions:
                self.stdout.write(f"{path.name}:{c.line} → rule at line {c.rule_line}: {c.why}")
            if conversions:
                changed[path] = new
        if problems:
            raise CommandError("Nothing written:\n" + "\n".join(problems))
        if not options["write"]:
            self.stdout.write(f"{len(changed)} file(s) would change (dry run; --write to write).")
            return
        old = {path: path.read_text(encoding="utf-8") for path in changed}
        for path, text in changed.items():
            path.write_text(text, encoding="utf-8")
        try:
            packs_parse(options["files"] or pack_files())
        except RulePackInvalid as exc:
            for path, text in old.items():
                path.write_text(text, encoding="utf-8")
            raise CommandError(f"The pack would not validate; nothing written:\n{exc}") from exc
        self.stdout.write(f"{len(changed)} file(s) written; the pack validates.")
