"""`python -m kmsdoctor.analyze.rules --markdown`: print docs/findings.md from the registry;
`--readme-table`: the finding table of README.md."""

from __future__ import annotations

import sys

from kmsdoctor.analyze.rules import all_rules, markdown, readme_table


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    if argv == ["--readme-table"]:
        sys.stdout.write(readme_table())
        return 0
    if not argv:
        for registered in all_rules():
            columns = f"{registered.code}  {registered.severity:<7}  {registered.lock:<20}"
            print(f"{columns}  {registered.title}")
        return 0
    print("usage: python -m kmsdoctor.analyze.rules [--markdown | --readme-table]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
