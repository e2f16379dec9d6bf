"""A seccomp filter for sandbox snippets: the kernel's riskiest calls answer EPERM.

The namespace jails already leave a snippet no capability and no way to reach the host,
so this filter is a second wall, and a smaller attack surface: no ptrace, no mounts or
new namespaces (no user namespace in which to become root again), no keyrings, bpf,
perf, userfaultfd or io_uring (frequent sources of kernel exploits), no module or kexec
loading. ``clone3`` answers ENOSYS, so that the C library falls back to ``clone``, whose
namespace flags the filter can see.

The program is classic BPF built here byte by byte (no libseccomp: the snippet's
interpreter runs ``-I -S``, so a binding would not be importable there anyway). bwrap
loads it from a descriptor (``--seccomp``); the unshare jail's setup loads it with
ctypes (``loader``) just before it starts the snippet's command. Only x86-64 has a table of call
numbers; elsewhere ``program`` is ``None`` and no jail claims the layer.
"""

from __future__ import annotations

import functools
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x4000_0000

BLOCKED_X86_64 = {
    "ptrace": 101, "syslog": 103, "personality": 135, "pivot_root": 155, "chroot": 161, "acct": 163,
    "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "init_module": 175,
    "delete_module": 176, "quotactl": 179, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "unshare": 272, "perf_event_open": 298, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320,
    "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442,
}
"""Calls that answer EPERM, by their x86-64 numbers."""

CLONE_X86_64 = 56
CLONE3_X86_64 = 435
NAMESPACE_FLAGS = 0x7E02_0000
"""CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET: a ``clone`` with any answers EPERM."""

EPERM, ENOSYS = 1, 38

_LD_W_ABS = 0x20
_JEQ, _JGE, _JSET = 0x15, 0x35, 0x45
_RET = 0x06
_ALLOW = 0x7FFF_0000
_ERRNO = 0x0005_0000
_KILL_PROCESS = 0x8000_0000


@functools.cache
def program() -> bytes | None:
    """The filter as ``struct sock_filter`` records, or ``None`` on an architecture without a table."""
    if platform.machine() != "x86_64":
        return None
    # (code, true target, false target, k); targets are labels or None for "the next one".
    code: list[tuple[int, str | None, str | None, int]] = [
        (_LD_W_ABS, None, None, 4),  # seccomp_data.arch
        (_JEQ, None, "kill", AUDIT_ARCH_X86_64),
        (_LD_W_ABS, None, None, 0),  # seccomp_data.nr
        (_JGE, "eperm", None, X32_SYSCALL_BIT),
        (_JEQ, "enosys", None, CLONE3_X86_64),
        (_JEQ, "clone", None, CLONE_X86_64),
        *((_JEQ, "eperm", None, number) for number in sorted(BLOCKED_X86_64.values())),
        (_RET, None, None, _ALLOW),
        ("clone", _LD_W_ABS, None, None, 16),  # the low half of args[0]: the flags
        (_JSET, "eperm", None, NAMESPACE_FLAGS),
        (_RET, None, None, _ALLOW),
        ("eperm", _RET, None, None, _ERRNO | EPERM),
        ("enosys", _RET, None, None, _ERRNO | ENOSYS),
        ("kill", _RET, None, None, _KILL_PROCESS),
    ]
    labels, plain = {}, []
    for index, instruction in enumerate(code):
        if isinstance(instruction[0], str):
            labels[instruction[0]] = index
            instruction = instruction[1:]
        plain.append(instruction)
    out = bytearray()
    for index, (op, true, false, k) in enumerate(plain):
        jt = labels[true] - index - 1 if true else 0
        jf = labels[false] - index - 1 if false else 0
        out += struct.pack("=HBBI", op, jt, jf, k)
    return bytes(out)


def loader() -> str:
    """Python lines that load ``program`` into the running interpreter (no-new-privileges first);
    empty where there is no program. A failure to load raises, so no snippet runs without it."""
    filter_bytes = program()
    if filter_bytes is None:
        return ""
    return (
        "import ctypes\n"
        "_libc = ctypes.CDLL(None, use_errno=True)\n"
        f"_filter = ctypes.create_string_buffer({filter_bytes!r})\n"
        "class _Program(ctypes.Structure):\n"
        "    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]\n"
        f"_program = _Program({len(filter_bytes) // 8}, ctypes.addressof(_filter))\n"
        "if _libc.prctl(38, 1, 0, 0, 0) or _libc.prctl(22, 2, ctypes.byref(_program), 0, 0):\n"
        "    raise OSError(ctypes.get_errno(), 'cannot load the sandbox seccomp filter')\n"
        "del _libc, _filter, _Program, _program\n"
    )


__all__ = ["BLOCKED_X86_64", "loader", "program"]
