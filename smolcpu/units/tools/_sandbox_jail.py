"""Isolation layers of the code sandbox, strongest first: bubblewrap, unshare, rlimits only.

A jail turns the interpreter's command line into one that runs confined, and names the
layers it puts in force so that a result can say how its snippet was isolated. Which jails
work depends on the host (is bubblewrap installed, may this user make namespaces, are we
root), so each is probed once by running an empty snippet through it.

Running as root, a jail drops the snippet to ``nobody`` (uid 65534) outside any user
namespace, so files only root may read stay unreadable even where they are visible. Not
running as root, bubblewrap and unshare make a user namespace instead and the snippet
keeps the caller's uid. Under bubblewrap the snippet sees only the system, Python and its
scratch directory; under unshare it sees the host's tree, read-only, with private /tmp.

The namespace jails make the scratch directory a tmpfs of ``scratch_bytes`` inside the
jail, so that all files together cannot outgrow it (the snippet gets ENOSPC); the runtime
reaches into it through a directory descriptor the snippet's interpreter hands over
before any snippet code runs (see ``_sandbox``). The rlimits jail has no mount of its own:
the runtime watches the size of the scratch tree instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from smolcpu import config
from smolcpu.errors import UsageError
from smolcpu.units._tool import ToolFailed

NOBODY = 65534
"""The uid and gid a snippet runs as when Smol runs as root."""

JAILS = ("bwrap", "unshare", "rlimits")
"""Every jail, strongest first; ``auto`` picks the first that works here."""

TMP_BYTES = 64 * 1024**2
"""Size of the private /tmp a namespace jail gives the snippet (it is memory)."""

PROBE_TIMEOUT_S = 10.0
"""How long probing one jail (or removing a scratch tree with rm) may take."""

MAX_TREE_ENTRIES = 10_000
"""Entries of a scratch directory looked at when collecting or unlocking what a snippet wrote."""

MAX_TREE_DEPTH = 32
"""Directory levels of a scratch directory looked into (removal goes all the way down)."""

INTERPRETER = Path(os.path.realpath(sys.executable))
"""The Python that runs snippets: this one's real binary, without the venv (``-I -S``)."""

PREFIX = Path(os.path.realpath(sys.base_prefix))
"""Where that Python's standard library lives; the namespace jails bind it read-only."""

SYSTEM_PYTHON = "/usr/bin/python3"
"""The interpreter the rlimits jail falls back to when ``nobody`` cannot reach ours."""


_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
_ETC = ("/etc/ld.so.cache", "/etc/localtime")

# Runs as root (real or in a user namespace) in the new mount namespace, then runs the
# snippet: stage Python and the scratch directory under /mnt, hide the host's writable
# shared places behind private tmpfs, make the rest read-only. The shell stays as the
# namespace's pid 1 (which ignores signals it has no handler for), so that the snippet
# is an ordinary process; its status comes back as the shell's (128 + N for signal N).
_UNSHARE_SCRIPT = """set -e
mount -t tmpfs -o mode=0755,size=1m smol /mnt
mkdir /mnt/python /mnt/scratch
mount --rbind "$1" /mnt/python
mount -o remount,bind,ro /mnt/python
mount -t tmpfs -o mode=1777,size=$2 smol /mnt/scratch
mount -t tmpfs -o mode=1777,size=$3 smol /tmp
for d in /dev/shm /run /var/tmp; do
    if [ -d "$d" ]; then mount -t tmpfs -o mode=1777,size=1m smol "$d"; fi
done
mount -o remount,bind,ro /
cd /mnt/scratch
unset OLDPWD
shift 3
"$@"
"""


def is_root() -> bool:
    """Whether Smol runs as root, so that snippets must be dropped to ``nobody``."""
    return os.geteuid() == 0


class Jail:
    """One way to confine a snippet: the command that wraps it and the layers it adds."""

    name: str = ""
    signals_as_status: bool = False
    """Whether a snippet killed by signal N comes back as exit status 128 + N (a shell or bwrap)."""
    scratch_inside: str | None = None
    """Where the snippet sees its scratch directory (``None``: at its real path)."""
    scratch_tmpfs: bool = False
    """Whether the jail mounts a size-capped tmpfs of its own as the scratch directory (else
    the snippet writes into the host's directory and the runtime watches its size)."""

    @property
    def layers(self) -> tuple[str, ...]:
        """What this jail puts in force, as named in a result's ``isolation``."""
        raise NotImplementedError

    @property
    def separated(self) -> bool:
        """Whether the snippet can neither see, signal nor trace the runtime (namespaces or another uid)."""
        return True

    @property
    def drop_to(self) -> int | None:
        """The uid the snippet's interpreter must switch to before it runs any code (``None``: none)."""
        return None

    def prologue(self) -> str:
        """Python lines the interpreter runs first, before any snippet code: the drop to ``drop_to``.

        Dropping in the interpreter, not in the spawn (``Popen(user=...)``) or with setpriv,
        keeps the spawn a vfork and saves an exec: ~10 ms per snippet each, measured here.
        """
        uid = self.drop_to
        if uid is None:
            return ""
        return f"import os\nos.setgroups([])\nos.setresgid({uid}, {uid}, {uid})\nos.setresuid({uid}, {uid}, {uid})\n"

    def interpreter(self) -> str:
        """The Python binary's path as seen inside the jail."""
        return str(INTERPRETER)

    def command(self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int | None = None) -> list[str]:
        """The command line that runs ``python python_args`` confined, in ``scratch``; a jail
        with ``scratch_tmpfs`` gives it a fresh tmpfs of ``scratch_bytes`` there instead."""
        raise NotImplementedError

    def environment(self, scratch: Path) -> dict[str, str]:
        """Extra variables the jail needs on top of the scrubbed environment."""
        return {}

    def __repr__(self) -> str:
        return f"<Jail {self.name}: {', '.join(self.layers)}>"


class _NamespaceJail(Jail):
    """A jail of Linux namespaces: as root it drops the snippet to nobody with setpriv."""

    tool = ""
    signals_as_status = True

    @property
    def layers(self) -> tuple[str, ...]:
        who = "uid-nobody" if is_root() else "user-namespace"
        return (self.tool, who, "mount-namespace", "read-only-system", "private-tmp",
                "net-namespace", "pid-namespace", "ipc-namespace", "scratch-tmpfs")

    def confined(self, python_args: Sequence[str]) -> list[str]:
        """The command the jail runs inside: the interpreter behind setpriv, which takes every
        capability away (the shell that set up the mounts had them) and, as root, the uid too."""
        uid = ["--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"] if is_root() else []
        setpriv = ["setpriv", *uid, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return [*setpriv, self.interpreter(), *python_args]


class BwrapJail(_NamespaceJail):
    """bubblewrap: a new root holding only the system, Python and the scratch directory.

    As root, bwrap leaves the interpreter only the capabilities to change uid and sets
    no-new-privileges; the interpreter then drops to nobody itself (see ``prologue``) and
    enters the scratch directory before it runs any code.
    """

    name = "bwrap"
    tool = "bubblewrap"
    scratch_inside = "/scratch"
    scratch_tmpfs = True

    @property
    def drop_to(self) -> int | None:
        return NOBODY if is_root() else None

    def confined(self, python_args: Sequence[str]) -> list[str]:
        return [self.interpreter(), *python_args]

    def command(self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int | None = None) -> list[str]:
        args = ["bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
        if is_root():
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user", "--disable-userns"]
        for path in _SYSTEM:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in _ETC:
            args += ["--ro-bind-try", path, path]
        if not any(PREFIX.is_relative_to(path) for path in _SYSTEM):
            # bwrap copies each parent's mode from the host (/root is 0700): open them up.
            for parent in reversed(PREFIX.parents[:-1]):
                args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind", str(PREFIX), str(PREFIX)]
        args += ["--dev", "/dev", "--proc", "/proc", "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
                 "--perms", "01777", "--size", str(scratch_bytes or config.SANDBOX_SCRATCH_BYTES),
                 "--tmpfs", self.scratch_inside, "--"]
        return [*args, *self.confined(python_args)]


class UnshareJail(_NamespaceJail):
    """util-linux unshare: new namespaces over the host's tree, made read-only."""

    name = "unshare"
    tool = "unshare"
    scratch_inside = "/mnt/scratch"
    scratch_tmpfs = True

    def interpreter(self) -> str:
        return str(Path("/mnt/python") / INTERPRETER.relative_to(PREFIX))

    def environment(self, scratch: Path) -> dict[str, str]:
        # The interpreter moved, so its absolute RUNPATH to libpython no longer resolves.
        return {"LD_LIBRARY_PATH": "/mnt/python/lib"}

    def command(self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int | None = None) -> list[str]:
        args = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts",
                "--mount-proc", "--propagation", "private"]
        if not is_root():
            args.append("--map-root-user")
        size = scratch_bytes or config.SANDBOX_SCRATCH_BYTES
        return [*args, "/bin/sh", "-c", _UNSHARE_SCRIPT, "sandbox", str(PREFIX), str(size),
                str(TMP_BYTES), *self.confined(python_args)]


class RlimitsJail(Jail):
    """No namespaces: resource limits, a scrubbed environment and, as root, uid nobody.

    Not as root, the snippet keeps the runtime's uid, so it could signal or trace the
    runtime: ``auto`` never picks this jail then; it must be asked for by name.
    """

    name = "rlimits"

    @property
    def separated(self) -> bool:
        return is_root()

    @property
    def layers(self) -> tuple[str, ...]:
        return ("uid-nobody", "scratch-watchdog") if is_root() else ("scratch-watchdog",)

    @property
    def drop_to(self) -> int | None:
        return NOBODY if is_root() else None

    def interpreter(self) -> str:
        # nobody cannot reach a Python under /root (pyenv); the system's serves snippets as well.
        if self.drop_to is not None and _unreachable_by_nobody(INTERPRETER) and os.path.exists(SYSTEM_PYTHON):
            return SYSTEM_PYTHON
        return str(INTERPRETER)

    def command(self, python_args: Sequence[str], scratch: Path, *, scratch_bytes: int | None = None) -> list[str]:
        return [self.interpreter(), *python_args]


_JAIL_TYPES: dict[str, type[Jail]] = {"bwrap": BwrapJail, "unshare": UnshareJail, "rlimits": RlimitsJail}


def scrubbed_environment(jail: Jail, scratch: Path) -> dict[str, str]:
    """The whole environment of a snippet: nothing of the runtime's is passed on."""
    inside = jail.scratch_inside or str(scratch)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": inside,
        "TMPDIR": inside if jail.scratch_inside is None else "/tmp",
        "LANG": "C.UTF-8",
        **jail.environment(scratch),
    }


@contextmanager
def scratch_directory(jail: Jail) -> Iterator[Path]:
    """A fresh directory the snippet (and only it) may write; removed afterwards, whatever it holds."""
    path = Path(tempfile.mkdtemp(prefix="smol-sandbox-"))
    try:
        if is_root():
            os.chown(path, NOBODY, NOBODY)
        yield path
    finally:
        remove_tree(path)


def scratch_tree(root: Path) -> Iterator[os.DirEntry[str]]:
    """Entries under ``root``, parents first, links not followed.

    Iterative and capped (MAX_TREE_ENTRIES, MAX_TREE_DEPTH), because the snippet shapes this
    tree: a recursive walk of a few thousand nested directories would overflow the stack.
    """
    pending = [(str(root), 0)]
    seen = 0
    while pending and seen < MAX_TREE_ENTRIES:
        folder, depth = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries[: MAX_TREE_ENTRIES - seen]:
            seen += 1
            if entry.is_dir(follow_symlinks=False) and depth + 1 < MAX_TREE_DEPTH:
                pending.append((entry.path, depth + 1))
            yield entry


def unlock_tree(root: Path) -> None:
    """Give the owner back what the snippet took from its own files (not needed as root)."""
    if is_root():
        return
    for entry in scratch_tree(root):  # a directory is yielded before it is listed
        if entry.is_dir(follow_symlinks=False):
            os.chmod(entry.path, 0o700)
        elif entry.is_file(follow_symlinks=False):
            os.chmod(entry.path, 0o600)


def remove_tree(path: Path) -> None:
    """Delete ``path`` however deep it is and even where the snippet took away its own permissions."""
    unlock_tree(path)
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:  # shutil recurses once per level; rm does not
        subprocess.run(["rm", "-rf", "--", str(path)], check=False, timeout=PROBE_TIMEOUT_S)


def _unreachable_by_nobody(path: Path) -> bool:
    """Whether a directory on ``path`` is closed to ``nobody`` (e.g. /root, 0700)."""
    return any(not os.stat(parent).st_mode & 0o001 for parent in path.parents)


@functools.cache
def probe(name: str) -> str | None:
    """Why the jail ``name`` cannot run snippets here, or ``None`` when it can (checked once)."""
    jail = make_jail(name)
    if isinstance(jail, _NamespaceJail) and shutil.which(jail.name) is None:
        return f"{jail.name} is not installed"
    if isinstance(jail, UnshareJail) and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed, so the snippet would keep the shell's privileges"
    # The prologue drops root where the jail asks; importing json then shows the stdlib is readable.
    with scratch_directory(jail) as scratch:
        try:
            done = subprocess.run(
                jail.command(["-I", "-S", "-c", jail.prologue() + "import json"], scratch), cwd=scratch,
                env=scrubbed_environment(jail, scratch), capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
            )
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            return f"{jail.name} failed: {exc}"
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return None


def available_jails() -> list[str]:
    """The jails that work on this host, strongest first."""
    return [name for name in JAILS if probe(name) is None]


def make_jail(name: str) -> Jail:
    """The jail called ``name`` (one of JAILS), whether or not it works here."""
    return _JAIL_TYPES[name]()


def choose_jail(preference: str = "auto") -> Jail:
    """The jail to use: for ``auto`` the strongest that works and separates the snippet from
    the runtime, else exactly the one named.

    Raises:
        UsageError: ``preference`` names no jail.
        ToolFailed: no jail (or not the one named) works here; says what to install.
    """
    if preference != "auto" and preference not in _JAIL_TYPES:
        raise UsageError(f"no isolation {preference!r}; choose auto, {', '.join(JAILS)}")
    tried = JAILS if preference == "auto" else (preference,)
    for name in tried:
        if probe(name) is None and (preference != "auto" or make_jail(name).separated):
            return make_jail(name)
    reasons = "; ".join(
        f"{name}: {probe(name) or 'works, but would share the runtime uid (ask for it by name)'}" for name in tried
    )
    raise ToolFailed(
        f"the sandbox cannot isolate code here ({reasons}); install bubblewrap (apt-get install bubblewrap) "
        "or choose another isolation"
    )


__all__ = ["JAILS", "Jail", "available_jails", "choose_jail", "make_jail", "probe", "scratch_directory",
           "scratch_tree", "scrubbed_environment", "unlock_tree"]
