"""Make this template your council's package: python rename_council.py my-borough

Replaces the placeholder id (my-council), module (cinflow_policy_my_council)
and title (My Council) everywhere, and renames the module directory."""

import re
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(new_id: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", new_id):
        sys.exit(f"rename_council.py: {new_id!r} is not a kebab-case council id (e.g. west-berkshire)")
    snake = new_id.replace("-", "_")
    title = " ".join(w.capitalize() for w in new_id.split("-"))
    for path in HERE.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".toml", ".yaml", ".md"} and path.name != "rename_council.py":
            text = path.read_text(encoding="utf-8")
            text = text.replace("my_council", snake).replace("my-council", new_id).replace("My Council", title)
            path.write_text(text, encoding="utf-8")
    (HERE / "cinflow_policy_my_council").rename(HERE / f"cinflow_policy_{snake}")
    print(f"Now: pip install -e . && cinflow policies show {new_id}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python rename_council.py COUNCIL-ID")
    main(sys.argv[1])
