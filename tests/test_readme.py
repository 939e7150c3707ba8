"""README.md runs as written (issue 18): every shell block, in order, in one bash session, against
a fresh server, each command's output compared with the one the README shows.

The README's convention (its first section says it too):
- Shell blocks are fenced ```console: a `$ ` line is a command (continued on the next lines while
  it ends with `\\`, a quote is open or a here-document has not reached its end word); the lines
  up to the next command are its output, stdout and stderr together as a terminal shows them.
- In a shown output, `…` stands for any text on its line, and a line that is only `…` for any
  number of lines (none too). Blank lines do not count, nor spaces at a line's end.
- Before comparing, both sides are normalized: resource ids (vpc-…, eni-…, sg-…) become
  `vpc-ID`..., UUIDs (request ids) `UUID`, timestamps `TIME`, durations `N ms`, memory used
  `N MB`; so the README may show real ones.
- `$ make up` is the server: the test starts `vpclocal up` (what the target runs) on a free port
  with a fresh data directory, in a process group of its own as a terminal's foreground job,
  and compares what it has printed once it answers (not make's echo of its recipe, the line
  `.venv/bin/vpclocal up`); the endpoint and data directory it prints are read as the
  README's (`http://127.0.0.1:4566`, `.vpclocal`), and the README's endpoint in a command is
  the test server's.
- A shell block preceded by `<!-- not run: REASON -->` is not run; the test lists those with
  their reasons. Any other shell block (```sh, ```bash, ```shell too) must follow the
  convention.

The commands run in a fresh directory holding `.venv` (the project's), as from a clone's root;
the README's blocks need the fabric and root (CI runs as root).
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from unittest import mock

import pytest

from tests.conftest import BIN, ROOT, Server
from tests.fabric.conftest import needs_fabric

README = ROOT / "README.md"
SHELL_LANGS = {"console", "sh", "bash", "shell"}
README_ENDPOINT = "http://127.0.0.1:4566"
README_DATA_DIR = ".vpclocal"
MAKE_ECHO = ".venv/bin/vpclocal up"
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->")
MARK = "@@@vpclocal-readme@@@"

NORMAL = [
    (re.compile(r"\b(vpc|subnet|sgr|sg|eni|igw|nat|rtb|acl|eipalloc|fl|vpce|pcx|nip|nia|nis)"
                r"-[0-9a-f]{8,17}\b"), r"\1-ID"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "UUID"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"), "TIME"),
    (re.compile(r"\b\d+(\.\d+)? ms\b"), "N ms"),
    (re.compile(r"Max Memory Used: \d+ MB"), "Max Memory Used: N MB"),
]


@dataclass
class Command:
    line: int  # in README.md
    text: str
    shown: list[str] = field(default_factory=list)


@dataclass
class Block:
    line: int
    lang: str
    body: list[str]
    not_run: str | None  # the marker's reason


def blocks() -> list[Block]:
    """Every fenced block of README.md in a shell language, with its not-run marker if any."""
    lines = README.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = re.match(r"^```(\S*)\s*$", lines[i])
        if not fence or not fence[1]:
            i += 1
            continue
        end = lines.index("```", i + 1)
        if fence[1] in SHELL_LANGS:
            before = next((line for line in reversed(lines[:i]) if line.strip()), "")
            marker = NOT_RUN.fullmatch(before.strip())
            found.append(Block(i + 1, fence[1], lines[i + 1:end],
                               marker[1] if marker else None))
        i = end + 1
    return found


def complete(text: str) -> bool:
    """Whether a command typed so far is whole: no trailing `\\`, no open quote, no
    here-document still waiting for its end word."""
    if text.endswith("\\"):
        return False
    heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", text)
    if heredoc and text.splitlines()[-1] != heredoc[1]:
        return False
    try:
        shlex.split(text.split("<<")[0] if heredoc else text)
    except ValueError:
        return False
    return True


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    typing = False
    for n, line in enumerate(block.body, block.line + 1):
        if typing:
            out[-1].text += "\n" + line
        elif line.startswith("$ "):
            out.append(Command(n, line[2:]))
        else:
            assert out, f"README.md:{n}: output before any `$ ` command"
            out[-1].shown.append(line)
            continue
        typing = not complete(out[-1].text)
    assert not typing, f"README.md:{out[-1].line}: the command never ends"
    return out


def normalize(text: str) -> str:
    for pattern, replacement in NORMAL:
        text = pattern.sub(replacement, text)
    return text


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def matches(shown: list[str], actual: list[str]) -> bool:
    """Whether the actual lines are what the shown ones describe (`…` wildcards)."""
    if not shown:
        return not actual
    if shown[0] == "…":
        return any(matches(shown[1:], actual[i:]) for i in range(len(actual) + 1))
    pattern = ".*".join(re.escape(part) for part in shown[0].split("…"))
    return bool(actual) and re.fullmatch(pattern, actual[0]) is not None and \
        matches(shown[1:], actual[1:])


def compare(command: Command, output: str) -> str:
    """'' when the output is what the README shows, else a diff saying where it differs."""
    shown = lines_of(normalize("\n".join(command.shown)))
    actual = lines_of(normalize(output))
    if matches(shown, actual):
        return ""
    diff = "\n".join(difflib.unified_diff(shown, actual, "README", "actual", lineterm=""))
    return f"README.md:{command.line}: $ {command.text}\n{diff}"


# ---- the convention itself -------------------------------------------------------------------


def test_every_shell_block_runs_or_says_why():
    found = blocks()
    assert len(found) > 10
    for block in found:
        if block.not_run is not None:
            assert len(block.not_run) > 10, f"README.md:{block.line}: say why it is not run"
            continue
        assert block.lang == "console", (
            f"README.md:{block.line}: a ```{block.lang} block: write it as ```console with `$ ` "
            "prompts, or mark it <!-- not run: REASON -->")
        assert commands(block), f"README.md:{block.line}: no `$ ` command"


def test_the_convention():
    block = Block(1, "console", [
        "$ aws ec2 create-vpc --cidr-block 10.0.0.0/16 \\", "    --query Vpc.VpcId", "vpc-0a1",
        "$ printf '%s' 'a", "b' > f", "$ cat > x <<'EOF'", "$ not a command", "EOF", "$ ls",
        "x", "f"], None)
    got = [(c.text, c.shown) for c in commands(block)]
    assert got == [
        ("aws ec2 create-vpc --cidr-block 10.0.0.0/16 \\\n    --query Vpc.VpcId", ["vpc-0a1"]),
        ("printf '%s' 'a\nb' > f", []), ("cat > x <<'EOF'\n$ not a command\nEOF", []),
        ("ls", ["x", "f"])]
    assert matches(["a …", "…", "z"], ["a b c", "x", "y", "z"])
    assert matches(["…"], [])
    assert not matches(["a …"], ["b"])
    assert not matches(["a"], ["a", "b"])
    same = Command(1, "x", ["vpc-022fe976bf571eb91 took 3.2 ms",
                            "RequestId: 49fad594-26d5-4b23-a398-8bbd0515823d"])
    assert compare(same, "vpc-0123456789abcdef0 took 10 ms\n\n"
                         "RequestId: 11111111-2222-3333-4444-555555555555  \n") == ""
    assert "-vpc-ID took N ms" in compare(same, "subnet-0123456789abcdef0 took 10 ms")


# ---- the README, run -------------------------------------------------------------------------


@needs_fabric
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_readme_runs_as_written(tmp_path):
    runnable = [b for b in blocks() if b.not_run is None]
    for block in blocks():
        if block.not_run is not None:
            print(f"README.md:{block.line}: not run: {block.not_run}")
    all_commands = [c for b in runnable for c in commands(b)]
    [up] = [c for c in all_commands if c.text == "make up"]
    rest = [c for c in all_commands if c is not up]
    assert all_commands.index(up) == 0, "`make up` comes before the commands that need it"

    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
        server = Server(tmp_path / "data", terminal=True).start()
    try:
        def as_readme(text: str) -> str:
            return text.replace(server.endpoint, README_ENDPOINT).replace(
                str(server.data_dir), README_DATA_DIR)

        failures = []
        up.shown = [line for line in up.shown if line.strip() != MAKE_ECHO]
        failures.append(compare(up, as_readme(server.log.read_text())))

        work = tmp_path / "clone"
        work.mkdir()
        (work / ".venv").symlink_to(BIN.parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PATH"] = ":".join(p for p in env["PATH"].split(":") if p != str(BIN))
        env.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        script = "exec 2>&1\n" + "".join(
            f"{c.text.replace(README_ENDPOINT, server.endpoint)}\n"
            f"printf '\\n{MARK}\\n'\n" for c in rest)
        run = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                             text=True, timeout=300, check=False)
        outputs = run.stdout.split(f"\n{MARK}\n")
        assert len(outputs) == len(rest) + 1, run.stdout
        failures += [compare(c, as_readme(out)) for c, out in zip(rest, outputs, strict=False)]
        failures = [f for f in failures if f]
        assert not failures, "\n\n".join(failures)
    finally:
        server.stop()
