"""The environment a remote ``exec`` gets, and which variables a request may add to it in allowlist mode.

Every command starts from a minimal environment: ``PATH`` (:data:`SAFE_PATH`), ``HOME`` (the agent user's) and
``LANG``. In ``any`` mode the request's ``env`` is added as given. In ``allowlist`` mode a request may add
only

* the harmless variables of :data:`SAFE_ENV` (locale, time zone, terminal size), each with a value that must
  match its pattern: no ``/`` or ``..`` that would point glibc at a locale, time-zone or terminfo file of the
  attacker's choosing;
* the names the PC's owner lists in ``[exec] env_allowlist`` (any value): variables their own tools read.

Everything else is refused: an allowlist of names, not a denylist, because the variables that change what a
program runs or loads are open-ended (``PATH``, ``LD_*``, ``PYTHON*``, ``BASH_ENV``, ``ENV``, ``IFS``,
``PERL5*``, ``NODE_OPTIONS``, ``GCONV_PATH``, ``HOME`` — a user site-packages or ``~/.gitconfig`` —, a
pager, a proxy, ...). :data:`UNSAFE_ENV` lists the known ones anyway, so that an owner cannot add one to
``env_allowlist`` by mistake: the configuration refuses it (see :func:`check_env_allowlist_entry`).
"""

from __future__ import annotations

import os
import pwd
import re

#: Where program names are looked up in allowlist mode, whatever the request's or the agent's ``PATH`` says;
#: also the ``PATH`` every command gets. Only absolute, root-owned system directories.
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

_LOCALE = r"[A-Za-z0-9_.@+-]{1,64}"
_LOCALE_NAMES = (
    "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES", "LC_PAPER",
    "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION",
)
_SIZE = r"[0-9]{1,5}"

#: The variables any allowlist-mode request may set, each with the pattern (full match) its value must have.
SAFE_ENV: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "LANG": _LOCALE,
        "LANGUAGE": r"[A-Za-z0-9_.@+:-]{1,256}",
        **dict.fromkeys(_LOCALE_NAMES, _LOCALE),
        # a zone name (Europe/Berlin) or a POSIX rule (CET-1CEST,M3.5.0,M10.5.0/3): never a file path
        "TZ": r"(?!.*\.\.)[A-Za-z0-9_+,.<>-][A-Za-z0-9_+,.<>/-]{0,63}",
        "TERM": r"[A-Za-z0-9_.+-]{1,64}",
        "COLUMNS": _SIZE,
        "LINES": _SIZE,
        "NO_COLOR": r"[ -~]{0,64}",
    }.items()
}

#: Names known to change what runs or loads (matched in full, case-insensitively): never allowed, and refused
#: in ``env_allowlist``. Documentation and a guard against mistakes; the allowlist above is the actual rule.
UNSAFE_ENV = re.compile(
    r"|".join(
        [
            r".*PATH", r".*HOME", r"ENV", r"BASH_ENV", r"IFS", r"GLOBIGNORE", r"SHELLOPTS", r"BASHOPTS", r"PS4",
            r"PROMPT_COMMAND", r"SHELL", r"ZDOTDIR", r"INPUTRC",  # shells
            r"LD_.*", r"DYLD_.*", r"GLIBC_TUNABLES", r"MALLOC_.*", r"GCONV_PATH", r"LOCPATH", r"NLSPATH",
            r"TZDIR", r"HOSTALIASES", r"LOCALDOMAIN", r"RES_OPTIONS", r"TMPDIR",  # the loader and libc
            r"PYTHON.*", r"PERL.*", r"RUBY.*", r"GEM_.*", r"NODE_.*", r"NPM_.*", r"LUA_.*", r"TCL.*",
            r"CLASSPATH", r".*_OPTIONS", r".*OPTS?",  # interpreters
            r"GIT_.*", r".*PAGER", r"EDITOR", r"VISUAL", r"LESS.*", r".*ASKPASS", r"SYSTEMD_.*", r"XDG_.*",
            r"TERMINFO.*", r"TERMCAP", r"SSL_.*", r"OPENSSL_.*", r".*_PROXY",  # programs' helpers and data
        ]
    ),
    re.IGNORECASE,
)


def base_environment() -> dict[str, str]:
    """The environment every command starts from."""
    try:
        home = pwd.getpwuid(os.getuid()).pw_dir or "/"
    except KeyError:
        home = "/"
    return {"PATH": SAFE_PATH, "HOME": home, "LANG": "C.UTF-8"}


def check_env_allowlist_entry(name: str) -> None:
    """Raise ``ValueError`` if the owner may not add ``name`` to ``[exec] env_allowlist``."""
    if not ENV_NAME.match(name):
        raise ValueError(f"env_allowlist entry {name!r}: not an environment variable name")
    if UNSAFE_ENV.fullmatch(name):
        raise ValueError(f"env_allowlist entry {name!r} cannot be allowed: it can change what runs or loads")
    if name in SAFE_ENV:
        raise ValueError(f"env_allowlist entry {name!r} cannot be allowed with any value: it is built in")


def env_refusal(name: str, value: str, extra: frozenset[str]) -> str | None:
    """Why an allowlist-mode request may not set ``name=value`` (``extra``: the owner's names), or None."""
    pattern = SAFE_ENV.get(name)
    if pattern is not None:
        return None if pattern.fullmatch(value) else f"environment variable {name!r}: value {value[:80]!r} refused"
    if name in extra:
        return None
    return (
        f"environment variable {name!r} is not allowed in allowlist mode "
        f"(allowed: {', '.join(sorted(SAFE_ENV))}, and the agent's [exec] env_allowlist)"
    )
