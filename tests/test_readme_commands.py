"""Every `clip-audit ...` command in README.md's code blocks exists, parses, and (where it is quick) runs.

The README is parsed at test time, so a section added later is checked too. A command is split by
bash itself (quotes, comments, brace expansion: an unquoted ``{00000..00099}`` becomes 100
arguments, as it would for a reader who pastes it), after the README's own notation is unfolded:
``[--flag VALUE]`` is optional (checked without and with it), ``a|b|c`` inside brackets are
alternatives (each checked), and a ``...`` argument stands for the arguments of the previous
command of the same subcommand. Each variant must name an existing (sub)command and parse against
it: every option exists, every value converts and passes its range check, required options are
there. Commands that finish in seconds on tiny data are also run, on inputs made at the paths the
README names.
"""
from __future__ import annotations

import csv
import io
import re
import subprocess
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from audit.cli import app
from clip_core.data.braces import expand_braces

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAM = re.compile(r"^(?:\S*/)?clip-audit(?:\s|$)")
runner = CliRunner()


@dataclass(frozen=True)
class ReadmeCommand:
    """One `clip-audit` command of the README, in one variant of its notation."""

    line: int  # README line where the command starts
    text: str  # the variant, as a shell command line
    path: tuple[str, ...]  # subcommand names, e.g. ("clip", "train")
    args: tuple[str, ...]  # the arguments after the subcommand names

    def __str__(self) -> str:
        return f"README.md line {self.line}: {self.text}"


def _code_block_lines(text: str) -> list[tuple[int, str]]:
    """(line number, logical line) of every fenced code block, backslash continuations joined."""
    logical: list[tuple[int, str]] = []
    inside, pending, start = False, "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.lstrip().startswith("```"):
            inside, pending = not inside, ""
            continue
        if not inside:
            continue
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        logical.append((start, pending + raw))
        pending = ""
    return logical


def _without_comment(line: str) -> str:
    """The line up to an unquoted shell comment."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _variants(line: str) -> list[str]:
    """The README's optional groups unfolded: without each [group], and with it for each a|b|c alternative."""
    group = re.search(r"\[([^\[\]]*)\]", line)
    if group is None:
        return [line]
    before, inner, after = line[:group.start()], group.group(1), line[group.end():]
    choices = [""]
    alternatives = re.search(r"\S*\|\S*", inner)
    if alternatives:
        choices += [inner[:alternatives.start()] + choice + inner[alternatives.end():] for choice in alternatives.group(0).split("|")]
    else:
        choices.append(inner)
    return [variant for choice in choices for variant in _variants(before + choice + after)]


def shell_words(text: str) -> list[str]:
    """The words bash makes of a command line (no globbing, no command substitution)."""
    if re.search(r"\$\(|`|[;&|<>]", text):
        raise ValueError(f"not a plain command line: {text}")
    script = f"set -f\nset -- {text}\nprintf '%s\\0' \"$@\"\n"
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], capture_output=True, check=True)
    return [word.decode() for word in done.stdout.split(b"\0")[:-1]]


@lru_cache(maxsize=1)
def _command_tree() -> object:
    """The root command of the CLI (typer's own command classes)."""
    return typer.main.get_command(app)


def _split_path(words: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Subcommand names and the remaining arguments; an unknown subcommand is an error."""
    command, path = _command_tree(), []
    rest = list(words)
    while hasattr(command, "commands"):
        if not rest or rest[0] not in command.commands:
            wanted = rest[0] if rest else "(nothing)"
            raise LookupError(f"`clip-audit {' '.join(path + [wanted])}` is not a command; known: {sorted(command.commands)}")
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    return tuple(path), tuple(rest)


def readme_commands(text: str) -> list[ReadmeCommand]:
    """Every clip-audit command of the README's code blocks, one entry per notation variant."""
    commands: list[ReadmeCommand] = []
    last_args: dict[tuple[str, ...], tuple[str, ...]] = {}
    for number, line in _code_block_lines(text):
        line = _without_comment(line.strip())
        if not PROGRAM.match(line):
            continue
        for variant in _variants(line):
            words = shell_words(variant.split(None, 1)[1] if " " in variant else "")
            try:
                path, args = _split_path(words)
            except LookupError as error:
                raise AssertionError(f"README.md line {number}: {error}") from error
            if "..." in args:
                if path not in last_args:
                    raise AssertionError(f"README.md line {number}: `...` but no earlier `clip-audit {' '.join(path)}` command")
                at = args.index("...")
                args = args[:at] + last_args[path] + args[at + 1:]
            else:
                last_args[path] = args
            commands.append(ReadmeCommand(number, variant, path, args))
    return commands


@lru_cache(maxsize=1)
def _readme_commands() -> tuple[ReadmeCommand, ...]:
    """The commands of the repository's README.md (parsed once per test session)."""
    return tuple(readme_commands(README.read_text(encoding="utf-8")))


def _leaf(path: tuple[str, ...]) -> object:
    """The command object at a subcommand path."""
    command = _command_tree()
    for name in path:
        command = command.commands[name]
    return command


def test_the_readme_parser_unfolds_the_notation() -> None:
    assert _variants("x [--a b|c] y") == ["x  y", "x --a b y", "x --a c y"]
    assert _variants("x [--p --q r]") == ["x ", "x --p --q r"]
    assert shell_words("--x 'a b' s/{1..3}.tar  # note") == ["--x", "a b", "s/1.tar", "s/2.tar", "s/3.tar"]
    block = "```bash\nclip-audit overlap --top-k 5 \\\n    --out o/  # c\nclip-audit overlap ... --out p/\nls\n```\n"
    parsed = readme_commands(block)
    assert [(c.line, c.path, c.args) for c in parsed] == [
        (2, ("overlap",), ("--top-k", "5", "--out", "o/")),
        (4, ("overlap",), ("--top-k", "5", "--out", "o/", "--out", "p/")),
    ]
    with pytest.raises(AssertionError, match="line 2: `clip-audit probes` is not a command"):
        readme_commands("```\nclip-audit probes fairface --out x\n```\n")


def test_every_readme_command_exists_and_parses() -> None:
    commands = _readme_commands()
    assert len(commands) >= 10, "the README lost its command examples"
    failures = []
    for command in commands:
        leaf = _leaf(command.path)
        try:
            leaf.make_context(" ".join(("clip-audit",) + command.path), list(command.args))
        except Exception as error:  # noqa: BLE001 - every parse failure is reported with its README line
            reason = str(getattr(error, "message", error))
            failures.append(f"{command}\n    -> {type(error).__name__}: {reason[:300]}{'...' if len(reason) > 300 else ''}")
    assert not failures, "README commands that do not parse:\n" + "\n".join(failures)


def _readme(path: tuple[str, ...], must_have: str) -> ReadmeCommand:
    """The first README command at a subcommand path whose arguments include `must_have`."""
    for command in _readme_commands():
        if command.path == path and must_have in command.args:
            return command
    pytest.skip(f"the README has no `clip-audit {' '.join(path)} ... {must_have}` command")


def _option_values(args: tuple[str, ...], option: str) -> list[str]:
    """The values given to a (repeatable) option."""
    return [args[i + 1] for i, word in enumerate(args[:-1]) if word == option]


def test_readme_table_mode_contamination_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = _readme(("contamination",), "--overlap-table")
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    ids = [f"img{i:03d}" for i in range(40)]
    similarity = rng.uniform(0.0, 1.0, len(ids))
    overlap_table = Path(_option_values(command.args, "--overlap-table")[0])
    overlap_table.parent.mkdir(parents=True, exist_ok=True)
    names = [text.split("=", 1)[0] for text in _option_values(command.args, "--predictions")]
    with overlap_table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "id", "similarity", "in_overlap"])
        for name in names:
            writer.writerows((name, i, f"{s:.4f}", int(s > 0.7)) for i, s in zip(ids, similarity))
    for text in _option_values(command.args, "--predictions"):
        predictions = Path(text.split("=", 1)[1])
        predictions.parent.mkdir(parents=True, exist_ok=True)
        predictions.write_text("id,correct\n" + "".join(f"{i},{int(rng.random() < 0.6)}\n" for i in ids))
    result = runner.invoke(app, [*command.path, *command.args])
    assert result.exit_code == 0, f"{command}\n{result.output}"
    out = Path(_option_values(command.args, "--out")[0])
    assert (out / "contamination.csv").is_file() and (out / "contamination.json").is_file()


def _tiny_image(seed: int) -> bytes:
    """A small distinct PNG."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((96, 96), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def test_readme_embed_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = next((c for c in _readme_commands() if c.path == ("embed",)
                    and "--detector" not in c.args), None)
    if command is None:
        pytest.skip("the README has no plain `clip-audit embed` command")
    monkeypatch.chdir(tmp_path)
    folder = Path(_option_values(command.args, "--images")[0])
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"{i}.png").write_bytes(_tiny_image(i))
    result = runner.invoke(app, [*command.path, *command.args])
    assert result.exit_code == 0, f"{command}\n{result.output}"
    out = Path(_option_values(command.args, "--out")[0])
    assert np.load(out / "descriptors.npy").shape[0] == 3


def test_readme_built_in_names_exist() -> None:
    from clip_core.config import get_preset
    from clip_core.data.templates import get_classnames, get_templates

    checks = {("clip", "train"): {"--model": get_preset}, ("clip", "eval"): {"--classnames": get_classnames, "--templates": get_templates}}
    failures = []
    for command in _readme_commands():
        for option, resolve in checks.get(command.path, {}).items():
            for value in _option_values(command.args, option):
                if Path(value).suffix:  # a file the reader brings
                    continue
                try:
                    resolve(value)
                except (KeyError, ValueError) as error:
                    failures.append(f"{command}: {option} {value}: {error}")
    assert not failures, "README names built-ins that do not exist:\n" + "\n".join(failures)


def _write_shards(pattern: str, images: list[bytes]) -> None:
    """WebDataset shards at a README brace pattern, one image or more in each."""
    shards = [Path(p) for p in expand_braces(pattern)]
    for number, shard in enumerate(shards):
        shard.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(shard, "w") as archive:
            for i in range(number, len(images), len(shards)):
                info = tarfile.TarInfo(f"item{i:05d}.png")
                info.size = len(images[i])
                archive.addfile(info, io.BytesIO(images[i]))


@pytest.mark.slow
def test_readme_overlap_decontaminate_and_contamination_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    search = _readme(("overlap",), "--pretraining")
    monkeypatch.chdir(tmp_path)
    sources = dict(text.split("=", 1) for text in _option_values(search.args, "--eval"))
    eval_images = {name: [_tiny_image(1000 * n + i) for i in range(4)] for n, name in enumerate(sources)}
    for name, folder in sources.items():
        Path(folder).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(eval_images[name]):
            (Path(folder) / f"{i}.png").write_bytes(image)
    pattern = _option_values(search.args, "--pretraining")[0]
    copies = [images[0] for images in eval_images.values()]
    _write_shards(pattern, copies + [_tiny_image(50_000 + i) for i in range(len(expand_braces(pattern)))])
    result = runner.invoke(app, [*search.path, *search.args])
    assert result.exit_code == 0, f"{search}\n{result.output}"
    out = _option_values(search.args, "--out")[0]
    ran = []
    for command in _readme_commands():
        if command.path == ("decontaminate",) and _option_values(command.args, "--overlap") == [out]:
            result = runner.invoke(app, [*command.path, *command.args])
            assert result.exit_code == 0, f"{command}\n{result.output}"
            ran.append(command.path)
        if command.path == ("contamination",) and any(v.startswith(out) for v in _option_values(command.args, "--overlap-table")):
            for text in _option_values(command.args, "--predictions"):
                path = text.split("=", 1)[1]
                Path(path).write_text("id,correct\n" + "".join(f"{i}.png,{i % 2}\n" for i in range(4)))
            result = runner.invoke(app, [*command.path, *command.args])
            assert result.exit_code == 0, f"{command}\n{result.output}"
            ran.append(command.path)
    assert sorted(ran) == [("contamination",), ("decontaminate",)], "the README lost its decontaminate / contamination examples"
