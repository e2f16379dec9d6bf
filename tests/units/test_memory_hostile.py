"""A vault that anyone can drop files into must keep working: the review's findings.

One note with a recursive YAML alias or a date as a key stopped every later vault command;
a ~400-byte alias bomb took 37 s and 3.6 GB; nested backtick runs made parsing cubic; a
folder named ``X.md`` crashed write and rename with a raw ``IsADirectoryError``. The files an
attacker would aim a symlink at sit where they would look: the user's home and the project.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from smolcpu.cli import app
from smolcpu.errors import UsageError
from smolcpu.units.tools import Vault
from smolcpu.units.tools._memory_links import MAX_FRONT_MATTER_CHARS, _code_spans, parse_note
from smolcpu.units.tools._memory_vault import MAX_NOTE_BYTES

ALIAS_BOMB = """\
---
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
---
The bomb's body, with [[Home]] and #bomb.
"""

HOSTILE = {
    "Recursive.md": "---\na: &a [*a]\n---\nRecursive body links [[Home]].\n",
    "Dated.md": "---\n2024-01-01: new year\n---\nDated body #dated\n",
    "Bomb.md": ALIAS_BOMB,
    "Deep.md": "---\nx: " + "[" * 5000 + "]" * 5000 + "\n---\nDeep body.\n",
    "Broken.md": "---\n: : :\n---\nBroken body.\n",
}


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    root = tmp_path / "vault"
    root.mkdir()
    (root / "Home.md").write_text("---\ntags: [hub]\nborn: 1815-12-10\n---\n# Home\nSee [[Recursive]].\n")
    opened = Vault(root)
    yield opened
    opened.close()


@pytest.mark.timeout(60)
def test_hostile_front_matter_is_reported_and_the_vault_goes_on(vault: Vault) -> None:
    vault.sync()
    for name, text in HOSTILE.items():
        (vault.root / name).write_text(text)
    report = vault.sync()
    assert report.added == len(HOSTILE)
    problems = {info.name: info.problem for info in vault.notes()}
    assert problems["Home"] is None
    assert "anchors and aliases" in problems["Recursive"]
    assert "anchors and aliases" in problems["Bomb"]
    assert "key 2024-01-01 is not text (YAML reads it as date)" in problems["Dated"]
    assert "nested deeper than" in problems["Deep"]
    assert problems["Broken"].startswith("front matter left out")
    for name in (Path(file).stem for file in HOSTILE):
        note = vault.read(name)
        assert note.frontmatter == {} and note.problem == problems[name]
        assert "body" in note.text.lower()
    assert vault.read("Home").frontmatter["tags"] == ["hub"]
    assert {hit.name for hit in vault.search("body")} == {Path(name).stem for name in HOSTILE}
    assert [link.source for link in vault.backlinks("Home")] == ["Bomb", "Recursive"]
    assert vault.notes(tag="dated")[0].name == "Dated"
    vault.write("After", "written after the hostile notes [[Home]]")
    assert vault.rename("Recursive", "Renamed")["rewritten"] == {"Home": 1}
    assert "anchors and aliases" in (vault.read("Renamed").problem or "")


def test_front_matter_longer_than_the_limit_is_left_out() -> None:
    text = "---\nsummary: " + "x" * (MAX_FRONT_MATTER_CHARS + 1) + "\n---\nbody [[Link]]\n"
    parsed = parse_note(text)
    assert parsed.frontmatter == {} and "longer than" in (parsed.problem or "")
    assert [link.target for link in parsed.links] == ["Link"]


def test_the_cli_lists_the_problem_of_each_note(vault: Vault) -> None:
    (vault.root / "Recursive.md").write_text(HOSTILE["Recursive.md"])
    result = CliRunner().invoke(app, ["memory", "list", "--vault", str(vault.root)])
    assert result.exit_code == 0, result.output
    assert "Recursive: front matter left out: anchors and aliases" in result.output


@pytest.mark.timeout(20)
def test_nested_backtick_runs_parse_in_linear_time() -> None:
    """0.8 MB of ever longer backtick runs: 26 s with the regex, well under a second now."""
    text = "".join("`" * length + " a " for length in range(1, 1300))
    assert len(text) > 800_000
    parsed = parse_note(text + "\n\n[[After]] `[[Inside]]` #tag")
    assert [link.target for link in parsed.links] == ["After"] and parsed.tags == ("tag",)


_OLD_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\r?\n).)+?)(?<!`)\1(?!`)", re.DOTALL)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="`a \n\t", max_size=60))
def test_code_spans_are_the_ones_the_commonmark_rule_finds(text: str) -> None:
    assert _code_spans(text) == [match.span(2) for match in _OLD_INLINE_CODE.finditer(text)]


def test_note_size_is_bounded_with_a_clear_error(vault: Vault) -> None:
    with pytest.raises(UsageError, match=f"more than the {MAX_NOTE_BYTES} bytes a note may have"):
        vault.write("Huge", "ü" * (MAX_NOTE_BYTES // 2 + 1))
    (vault.root / "Dumped.md").write_text("ö" * 10_000_000)  # 20 MB of non-ASCII, left by another program
    infos = {info.name: info for info in vault.notes()}
    assert "larger than the" in (infos["Dumped"].problem or "")
    with pytest.raises(UsageError, match="larger than the .* bytes a note may have; split it"):
        vault.read("Dumped")
    assert vault.read("Home").text.startswith("---")
    with pytest.raises(UsageError, match="not valid Unicode"):
        vault.write("Surrogate", "\udc80")


def test_a_folder_named_like_a_note_gives_a_clear_error(vault: Vault) -> None:
    (vault.root / "Plans.md").mkdir()
    (vault.root / "Plans.md" / "inside.md").write_text("a note in a folder named like a note")
    vault.write("Draft", "draft")
    with pytest.raises(UsageError, match="'Plans.md' is a folder in the vault, not a note"):
        vault.write("Plans", "text")
    with pytest.raises(UsageError, match="'Plans.md' is a folder in the vault, not a note"):
        vault.rename("Draft", "Plans")
    assert vault.read("Draft").text == "draft"
    (vault.root / "file").write_text("a plain file")
    with pytest.raises(UsageError, match="'file' is a file, not a folder"):
        vault.write("file/Note", "text")


@pytest.fixture
def targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Secrets where an attacker looks: the user's ssh key and the project's .env."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY----- hunter2secret\n")
    project = tmp_path / "project"
    project.mkdir()
    env = project / ".env"
    env.write_text("API_TOKEN=hunter2secret\n")
    return {"key": Path("~/.ssh/id_ed25519").expanduser(), "env": env}


def test_a_symlink_out_of_the_vault_is_not_part_of_it(vault: Vault, targets: dict[str, Path]) -> None:
    (vault.root / "Key.md").symlink_to(targets["key"])
    (vault.root / "Env.md").symlink_to(targets["env"])
    (vault.root / "Alias.md").symlink_to(vault.root / "Home.md")  # inside the vault: fine
    names = {info.name for info in vault.notes()}
    assert "Key" not in names and "Env" not in names and "Alias" in names
    assert vault.search("hunter2secret") == []
    with pytest.raises(UsageError, match="no note 'Key'"):
        vault.read("Key")
    vault.write("Key", "replaced")  # replaces the link, never writes through it
    assert "hunter2secret" in targets["key"].read_text()
    assert vault.read("Key").text == "replaced"


@pytest.mark.timeout(30)
def test_a_fifo_in_the_vault_does_not_hang_it(vault: Vault) -> None:
    os.mkfifo(vault.root / "Pipe.md")
    assert "Pipe" not in {info.name for info in vault.notes()}
    assert vault.read("Home").name == "Home"


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_old_mac_line_endings_do_not_break_parsing(newline: str) -> None:
    """atheris (bench/fuzz, target note): a fenced block in a note whose lines end in a lone
    carriage return raised IndexError, as markdown-it counts those lines and the parser did not."""
    text = newline.join(["# Title", "See [[Other]]", "```", "[[not a link]]", "```", "after #tag", ""])
    note = parse_note(text)
    assert [link.target for link in note.links] == ["Other"]
    assert note.tags == ("tag",) and note.headings[0].text == "Title"
