"""Modules the agent imports on first use (edge.agent.deferred_modules), its version without importlib.metadata,
and paho's proxy lookup: each in a fresh interpreter, so that what is imported is this test's doing."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from edge.agent import _installed_version

REPO = Path(__file__).resolve().parents[3]


def run(code: str, env: dict[str, str] | None = None) -> str:
    """``code``'s output in a fresh interpreter; no ``mqtt_proxy`` from this environment unless ``env`` sets one."""
    base = {k: v for k, v in os.environ.items() if k.lower() != "mqtt_proxy"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_deferred_module_is_imported_on_first_use_and_then_is_the_real_one(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    out = run(
        "import sys\n"
        "from edge.agent.deferred_modules import defer\n"  # edge.agent's __init__ defers DEFERRED
        "print(defer(('tarfile', 'no_such_module_here', 'sys', 'wave')))\n"
        "import tarfile, wave\n"
        "print(type(wave).__name__, wave.open.__module__, type(sys.modules['wave']).__name__)\n"
        "print('tarfile' in sys.modules, type(sys.modules['tarfile']).__name__, 'hashlib' in sys.modules)\n"
        f"with tarfile.open({str(tmp_path / 'a.tar')!r}, 'w') as t: t.add({str(tmp_path / 'a.txt')!r}, 'a.txt')\n"
        "print(type(sys.modules['tarfile']).__name__, tarfile.TarFile is sys.modules['tarfile'].TarFile)\n"
        "from tarfile import open as topen\n"
        f"print(topen({str(tmp_path / 'a.tar')!r}).getnames())\n"
    )
    assert out.splitlines() == [
        "['wave']",  # tarfile deferred already; not found, or already imported: left alone
        "_Deferred wave module",
        "True _Deferred False",  # a stand-in: tarfile's own imports not run yet
        "module True",
        "['a.txt']",
    ]


def test_a_submodule_is_deferred_without_importing_its_package_and_attributes_write_through() -> None:
    out = run(
        "import sys\n"
        "from edge.agent.deferred_modules import defer\n"
        "print(defer(), 'msgspec' in sys.modules)\n"
        "import msgspec, urllib\n"
        "print(type(msgspec.inspect).__name__, type(urllib.request).__name__, 'http.client' in sys.modules)\n"
        "print(msgspec.inspect.type_info(int).__class__.__name__)\n"
        "import urllib.request as r\n"
        "r.marker = 1\n"
        "print(sys.modules['urllib.request'].marker, urllib.request.getproxies.__module__,\n"
        "      'http.client' in sys.modules)\n"
    )
    assert out.splitlines() == [
        "[] False",  # edge.agent's __init__ deferred them, msgspec not imported
        "_Deferred _Deferred False",
        "IntType",
        "1 urllib.request True",
    ]


def test_first_use_from_many_threads_at_once_imports_once() -> None:
    out = run(
        "import sys, threading\n"
        "from edge.agent.deferred_modules import defer\n"
        "defer(('tarfile',))\n"
        "import tarfile\n"
        "go = threading.Event(); seen = []\n"
        "def use(): go.wait(); seen.append(tarfile.TarFile)\n"
        "ts = [threading.Thread(target=use) for _ in range(16)]\n"
        "[t.start() for t in ts]; go.set(); [t.join() for t in ts]\n"
        "print(len(seen), len(set(map(id, seen))), seen[0] is sys.modules['tarfile'].TarFile)\n"
    )
    assert out == "16 1 True"


def test_the_version_is_read_as_importlib_metadata_reads_it() -> None:
    assert _installed_version("classtop-fleet") == metadata.version("classtop-fleet")
    assert _installed_version("CLASSTOP_Fleet") == metadata.version("classtop-fleet")
    assert _installed_version("classtop-no-such-dist") is None


def test_paho_looks_up_no_proxy_unless_one_is_configured() -> None:
    code = (
        "import sys, paho.mqtt.client as paho\n"
        "from edge.agent import footprint\n"
        "print(footprint.skip_proxy_lookup(), paho.socks is None)\n"
    )
    assert run(code).split() == ["True", "True"]
    with_proxy = run(code, env={"MQTT_PROXY": "socks://127.0.0.1:1080"})
    assert with_proxy.split()[0] == "False"  # paho left as it is: it reads the variable on connect
