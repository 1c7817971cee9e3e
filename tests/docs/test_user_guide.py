"""docs/user-guide.md runs top to bottom, as a new user would follow it.

Its code blocks are taken in order from the Markdown and run in one empty
temporary folder: every ``python`` block in one shared namespace (one Python
process, as in one interactive session started in that folder), every ``bash``
block through ``bash -e`` with the virtual environment's ``bin`` first on the
PATH (what ``source .venv/bin/activate`` does). A block of any language whose
info string has ``file=PATH`` is written to PATH instead ("save this as PATH").
Other blocks (output, YAML and JSON shown for reading) are only read.

A comment on the line right before a fence changes that:

- ``<!-- no-run: REASON -->``: the block is not run (a server that does not
  return, a PostgreSQL URL); the reason is required;
- ``<!-- exit: N -->``: the bash block must exit with code N (a refusal the
  guide shows on purpose);
- ``<!-- no-run-section: REASON -->`` before a heading: no block under that
  heading (down to the next heading of the same or a higher level) is run.

An unknown marker or fence option is an error, so a typo cannot skip a block.
A failure names the guide's line (Python tracebacks point into the guide).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "user-guide.md"
BIN = Path(sys.executable).parent  # the environment the tests run in: shipyard is here
BLOCK_TIMEOUT = 300  # seconds for one bash block

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
MARKER = re.compile(r"^\s*<!--\s*(?P<name>[a-z-]+)\s*:\s*(?P<value>.*?)\s*-->\s*$")
HEADING = re.compile(r"^(?P<level>#{1,6})\s")
RUNNABLE = ("python", "bash")
MARKERS = ("no-run", "exit", "no-run-section")


@dataclass(frozen=True)
class Block:
    """One fenced block: the line of its opening fence (1-based) and what to do with it."""

    line: int
    language: str
    code: str
    file: str | None = None
    no_run: str | None = None
    exit_code: int = 0

    @property
    def action(self) -> str:
        """``run``, ``write`` (to ``file``) or ``read`` (shown only)."""
        if self.no_run is not None:
            return "read"
        if self.file is not None:
            return "write"
        return "run" if self.language in RUNNABLE else "read"


class GuideError(ValueError):
    """The Markdown uses a marker or a fence option this runner does not know."""


def read_blocks(text: str, name: str = "guide") -> list[Block]:
    """Every fenced block of the Markdown ``text``, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: dict[str, str] = {}
    section: tuple[int, str] | None = None  # a no-run section: (heading level, reason)
    index = 0
    while index < len(lines):
        line, where = lines[index], f"{name}:{index + 1}"
        index += 1
        marker, heading, fence = MARKER.match(line), HEADING.match(line), FENCE.match(line)
        if marker:
            if marker["name"] not in MARKERS:
                raise GuideError(f"{where}: unknown marker {marker['name']!r}.")
            if not marker["value"]:
                raise GuideError(f"{where}: the {marker['name']} marker needs a value.")
            pending[marker["name"]] = marker["value"]
        elif heading:
            level = len(heading["level"])
            if section is not None and level <= section[0]:
                section = None
            if "no-run-section" in pending:
                section = (level, pending.pop("no-run-section"))
            if pending:
                raise GuideError(f"{where}: {', '.join(pending)} is not right before a fence.")
        elif fence:
            block, index = _block(lines, index, fence, pending, section, name)
            blocks.append(block)
            pending = {}
        elif line.strip() and pending:
            raise GuideError(f"{where}: {', '.join(pending)} is not right before a fence.")
    return blocks


def _block(
    lines: list[str],
    index: int,
    fence: re.Match[str],
    pending: dict[str, str],
    section: tuple[int, str] | None,
    name: str,
) -> tuple[Block, int]:
    """The block whose opening fence was line ``index`` (1-based), and the line after it."""
    start, indent, closing = index, len(fence["indent"]), fence["fence"]
    words = fence["info"].split()
    language, file = (words[0] if words else ""), None
    for option in words[1:]:
        if not option.startswith("file=") or option == "file=":
            raise GuideError(f"{name}:{start}: unknown fence option {option!r} (known: file=).")
        file = option.removeprefix("file=")
    body = []
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped.startswith(closing) and not stripped.strip(closing[0]):
            break
        body.append(lines[index][indent:] if not lines[index][:indent].strip() else lines[index])
        index += 1
    else:
        raise GuideError(f"{name}:{start}: the block is never closed.")
    if "no-run-section" in pending:
        raise GuideError(f"{name}:{start}: no-run-section goes before a heading.")
    exit_text = pending.get("exit", "0")
    if not exit_text.isdigit():
        raise GuideError(f"{name}:{start}: exit takes a number, not {exit_text!r}.")
    if exit_text != "0" and (language != "bash" or file is not None):
        raise GuideError(f"{name}:{start}: exit applies to bash blocks that run.")
    no_run = pending.get("no-run") or (section[1] if section else None)
    block = Block(start, language, "\n".join(body) + "\n", file, no_run, int(exit_text))
    return block, index + 1


def run_blocks(blocks: list[Block], folder: Path, guide: str) -> dict[str, Any]:
    """Run ``blocks`` in order in ``folder``; the Python namespace they shared."""
    namespace: dict[str, Any] = {"__name__": "__guide__"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    for block in blocks:
        started = time.perf_counter()
        if block.action == "write":
            target = folder / block.file  # type: ignore[operator]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
        elif block.action == "run" and block.language == "python":
            # Leading newlines make a traceback's line numbers the guide's own.
            code = compile("\n" * block.line + block.code, guide, "exec")
            try:
                exec(code, namespace)
            except Exception as exc:
                raise AssertionError(
                    f"{guide}:{block.line}: the python block raised {exc!r}"
                ) from exc
        elif block.action == "run":
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.code],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT,
            )
            if done.returncode != block.exit_code:
                raise AssertionError(
                    f"{guide}:{block.line}: the bash block exited {done.returncode}, "
                    f"not {block.exit_code}\n--- block\n{block.code}--- stdout\n"
                    f"{done.stdout[-4000:]}--- stderr\n{done.stderr[-4000:]}"
                )
        seconds = time.perf_counter() - started
        if block.action != "read":
            print(f"{guide}:{block.line}: {block.language} {block.action} {seconds:.1f}s")
    return namespace


@pytest.mark.slow
def test_the_user_guide_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = read_blocks(GUIDE.read_text(encoding="utf-8"), GUIDE.name)
    assert sum(b.action == "run" for b in blocks) > 20
    for name in [k for k in os.environ if k.startswith("SHIPYARD_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python` started in the folder
    # as in a shell where the environment is active: the guide's Python starts `shipyard`
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    namespace = run_blocks(blocks, tmp_path, str(GUIDE.relative_to(ROOT)))
    workspace = namespace.get("ws")
    if workspace is not None:
        workspace.close()


def test_the_guide_marks_few_blocks_no_run_and_says_why() -> None:
    blocks = read_blocks(GUIDE.read_text(encoding="utf-8"), GUIDE.name)
    skipped = [b for b in blocks if b.no_run is not None and b.language in RUNNABLE]
    assert len(skipped) <= 10, [(b.line, b.no_run) for b in skipped]
    assert all(len(b.no_run or "") >= 10 for b in skipped)


def test_markers_and_options_are_read_and_typos_refused() -> None:
    text = "\n".join(
        [
            "# Guide",
            "```bash",
            "echo run",
            "```",
            "<!-- no-run: blocks forever -->",
            "```bash",
            "sleep infinity",
            "```",
            "<!-- exit: 6 -->",
            "```bash",
            "exit 6",
            "```",
            "   ```yaml file=conf/plan.yaml",
            "   sets: {a: 1}",
            "   ```",
            "```text",
            "output",
            "```",
            "<!-- no-run-section: other data -->",
            "## Other",
            "```python",
            "print(1)",
            "```",
            "### Still other",
            "```python",
            "print(2)",
            "```",
            "## Next",
            "````python",
            "print('```')",
            "````",
        ]
    )
    blocks = read_blocks(text)
    assert [(b.line, b.action) for b in blocks] == [
        (2, "run"),
        (6, "read"),
        (10, "run"),
        (13, "write"),
        (16, "read"),
        (21, "read"),
        (25, "read"),
        (29, "run"),
    ]
    assert blocks[2].exit_code == 6 and blocks[1].no_run == "blocks forever"
    assert blocks[3].file == "conf/plan.yaml" and blocks[3].code == "sets: {a: 1}\n"
    assert blocks[7].code == "print('```')\n"
    for bad in (
        "<!-- norun: typo -->\n```bash\nx\n```",
        "<!-- no-run: -->\n```bash\nx\n```",
        "<!-- exit: six -->\n```bash\nx\n```",
        "<!-- exit: 1 -->\n```python\nx\n```",
        "<!-- no-run: why -->\nsome text\n```bash\nx\n```",
        "```bash no-run\nx\n```",
        "```bash\nx\n",
    ):
        with pytest.raises(GuideError):
            read_blocks(bad)


def test_a_failing_block_names_its_line(tmp_path: Path) -> None:
    blocks = read_blocks("text\n\n```bash\ntrue\nfalse\necho never\n```\n")
    with pytest.raises(AssertionError, match=r"guide:3: the bash block exited 1, not 0"):
        run_blocks(blocks, tmp_path, "guide")
    blocks = read_blocks("```python\nx = 1\n```\n\n```python\n\ny = x + z\n```\n")
    with pytest.raises(AssertionError, match=r"guide:5: the python block raised NameError") as info:
        run_blocks(blocks, tmp_path, "guide")
    frames = [frame for frame in _traceback(info.value.__cause__) if frame[0] == "guide"]
    assert frames == [("guide", 7)]  # the line of `y = x + z` in the Markdown


def _traceback(error: BaseException | None) -> list[tuple[str, int]]:
    import traceback

    assert error is not None
    return [(f.filename, f.lineno or 0) for f in traceback.extract_tb(error.__traceback__)]
