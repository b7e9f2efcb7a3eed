"""The LMS container files, checked without a Docker engine: Dockerfile rules in the spirit of hadolint (rule
ids in the test names' comments), and a parse of the compose file (images, volumes, health checks, restart
policy, the Mosquitto config rendered from infra/mosquitto, the environment documented)."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import shlex
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.lms import site_broker
from tests.fixtures.lms_image import dockerfile_instructions

ROOT = Path(__file__).resolve().parents[3]
LMS_DIR = ROOT / "infra" / "lms"


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions()


def args_of(dockerfile: list[tuple[str, str]], name: str) -> list[str]:
    return [rest for word, rest in dockerfile if word == name]


def test_base_image_is_a_pinned_python_311_slim(dockerfile: list[tuple[str, str]]) -> None:  # DL3006, DL3007
    froms = args_of(dockerfile, "FROM")
    assert len(froms) == 1
    image, _, tag = froms[0].split()[0].split("@")[0].partition(":")
    assert image == "python" and re.fullmatch(r"3\.11\.\d+-slim-\w+", tag), tag


def test_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:  # DL3002
    users = args_of(dockerfile, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, (word, _) in enumerate(dockerfile) if word == "USER")
    assert all(word not in ("RUN", "COPY", "ADD") for word, _ in dockerfile[last_user:])


def test_healthcheck_probes_the_lms_health_route(dockerfile: list[tuple[str, str]]) -> None:
    checks = args_of(dockerfile, "HEALTHCHECK")
    assert len(checks) == 1 and "CMD" in checks[0]
    port = args_of(dockerfile, "EXPOSE")[0]
    assert f"127.0.0.1:{port}/api/health" in checks[0]
    from edge.lms.api import health

    assert any(getattr(r, "path", "") == "/api/health" for r in health.router.routes)


def test_exec_form_and_safe_instructions(dockerfile: list[tuple[str, str]]) -> None:  # DL3025, DL3020, DL3000
    for name in ("ENTRYPOINT", "CMD"):
        for rest in args_of(dockerfile, name):
            assert isinstance(json.loads(rest), list), name
    assert args_of(dockerfile, "ADD") == []
    assert all(rest.startswith("/") for rest in args_of(dockerfile, "WORKDIR"))
    for rest in args_of(dockerfile, "RUN"):
        assert "sudo " not in rest  # DL3004
        if "apt-get install" in rest:  # DL3008/DL3009/DL3015
            assert "--no-install-recommends" in rest and "rm -rf /var/lib/apt/lists" in rest
        if "pip install" in rest:  # DL3042
            assert "--no-cache-dir" in rest


def test_installs_only_the_lms_extra(dockerfile: list[tuple[str, str]]) -> None:
    installs = [r for r in args_of(dockerfile, "RUN") if "pip install" in r]
    assert len(installs) == 1
    words = shlex.split(installs[0].split("&&")[0])
    assert words[-2:] == ["-r", "infra/lms/requirements.lock"]  # the `lms` extra's lock (see below)
    lms = {canonicalize_name(r.name) for r in extra_requirements()}
    others = {canonicalize_name(r.name) for extra in ("cloud", "camera") for r in extra_requirements(extra)} - lms
    assert others and not others & set(lock_pins()), others & set(lock_pins())  # no cloud or camera packages


def test_everything_copied_exists_and_passes_the_dockerignore(dockerfile: list[tuple[str, str]]) -> None:
    ignore = [line for line in (LMS_DIR / "Dockerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    copied = []
    for rest in args_of(dockerfile, "COPY"):
        *sources, _ = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert any(source == a or source.startswith(a + "/") or fnmatch.fnmatch(source, a) for a in allowed), \
                source
            copied.append(source.rstrip("/"))
    # the entrypoint's own imports of infra.* are in the image
    tree = ast.parse((LMS_DIR / "entrypoint.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    for module in sorted(m for m in modules if m.startswith("infra.")):
        path = module.replace(".", "/") + ".py"
        assert path in copied, f"{module} is imported by the entrypoint but not copied"
    assert {"shared", "edge"} <= set(copied)
    # the ENTRYPOINT's module is one of the files copied, and the WORKDIR it is imported from is PYTHONPATH
    [entrypoint] = args_of(dockerfile, "ENTRYPOINT")
    argv = json.loads(entrypoint)
    assert argv[:2] == ["python", "-m"]
    module_file = argv[2].replace(".", "/") + ".py"
    assert (ROOT / module_file).is_file() and module_file in copied, module_file
    [workdir] = args_of(dockerfile, "WORKDIR")
    assert f"PYTHONPATH={workdir}" in " ".join(args_of(dockerfile, "ENV"))
    assert "pyproject.toml" in copied  # the version the LMS reports (edge/lms/__init__.py)


# ---------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((LMS_DIR / "compose.yaml").read_text())
    return data


def test_compose_services_images_and_restart_policy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"site-tls", "mosquitto", "lms"}
    image, _, tag = services["mosquitto"]["image"].split("@")[0].partition(":")
    assert image == "eclipse-mosquitto" and re.fullmatch(r"2\.\d+\.\d+", tag)
    assert ":" in services["lms"]["image"] and not services["lms"]["image"].endswith(":latest")
    for name in ("lms", "site-tls"):
        build = services[name]["build"]
        assert (LMS_DIR / build["context"] / build["dockerfile"]).resolve() == LMS_DIR / "Dockerfile"
        assert services[name]["image"] == services["lms"]["image"]
    for name in ("mosquitto", "lms"):
        assert services[name]["restart"] in ("unless-stopped", "always"), name
    assert services["lms"]["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    # the one-shot TLS step runs to completion before the broker's (first) start
    assert services["site-tls"]["restart"] == "no" and services["site-tls"]["command"] == ["--site-tls"]
    assert services["mosquitto"]["depends_on"]["site-tls"]["condition"] == "service_completed_successfully"
    assert services["site-tls"]["environment"] == services["lms"]["environment"]


def test_compose_publishes_only_tls_on_the_lan(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["mosquitto"]["ports"] == ["8883:8883"]  # plain 1883 is not published
    assert services["lms"]["ports"] == ["8000:8000"]
    from infra.lms.entrypoint import config

    env = {"CLASSTOP_TENANT": "t", "CLASSTOP_SITE_ID": "s", "CLASSTOP_LMS_ADVERTISE_HOST": "lms.school.lan",
           **services["lms"]["environment"]}  # fmt: skip
    cfg = config(env, Path("/data"))
    assert cfg["site_broker"]["port"] == 8883 and cfg["site_broker"]["tls"] == {}  # the LMS uses TLS too
    assert cfg["site_broker"]["dynsec"]["advertise_host"] == "lms.school.lan"
    assert cfg["site_broker"]["dynsec"]["advertise_port"] == 8883
    assert cfg["site_tls"] == {"broker_dir": "/broker-tls", "hosts": ["lms.school.lan"]}
    assert "http_tls" not in cfg  # HTTPS, the default


def test_compose_health_checks(compose: dict[str, Any], dockerfile: list[tuple[str, str]]) -> None:
    for name in ("mosquitto", "lms"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        assert check["retries"] >= 1 and check["interval"] and check["timeout"], name
    lms_check = compose["services"]["lms"]["healthcheck"]["test"]
    docker_check = args_of(dockerfile, "HEALTHCHECK")[0].split(" CMD ", 1)[1]
    assert lms_check == ["CMD", *json.loads(docker_check)]
    assert "https://127.0.0.1:8000/api/health" in lms_check[-1] and "/data/site-ca/ca.crt" in lms_check[-1]
    broker_check = " ".join(compose["services"]["mosquitto"]["healthcheck"]["test"])
    assert "1883" in broker_check and "8883" in broker_check


def test_compose_volumes_keep_sqlite_recordings_and_broker_state(compose: dict[str, Any]) -> None:
    named = set(compose["volumes"])

    def mounts(service: str) -> dict[str, str]:
        result = {}
        for volume in compose["services"][service]["volumes"]:
            source, target = volume.split(":")[:2]
            result[target] = source
        return result

    lms = mounts("lms")
    assert lms["/data"] in named and lms["/recordings"] in named
    assert compose["services"]["lms"]["environment"]["CLASSTOP_DATA_DIR"] == "/data"
    from infra.lms.entrypoint import config

    cfg = config({"CLASSTOP_TENANT": "t", "CLASSTOP_SITE_ID": "s"}, Path("/data"))
    assert cfg["db_path"].startswith("/data/")  # the SQLite database lives on the volume
    broker = mounts("mosquitto")
    assert broker["/mosquitto/data"] in named
    assert site_broker.CONTAINER_VALUES["data_dir"] == "/mosquitto/data"
    conf = (LMS_DIR / broker["/mosquitto/config/mosquitto.conf"]).resolve()
    assert conf == site_broker.RENDERED
    # the broker's TLS files: written by the LMS (and the TLS step), read-only for the broker
    assert lms["/broker-tls"] == broker["/broker-tls"] == mounts("site-tls")["/broker-tls"] == "broker-tls"
    assert "broker-tls:/broker-tls:ro" in compose["services"]["mosquitto"]["volumes"]
    assert mounts("site-tls")["/data"] == lms["/data"]
    assert (LMS_DIR / broker["/classtop/mosquitto-start.sh"]).resolve() == LMS_DIR / "mosquitto-start.sh"
    assert compose["services"]["mosquitto"]["command"] == ["sh", "/classtop/mosquitto-start.sh"]


def test_the_broker_config_is_the_rendered_site_template() -> None:
    assert site_broker.RENDERED.read_text() == site_broker.render(), "run: python -m infra.lms.site_broker"
    lines = [line for line in site_broker.render().splitlines() if line and not line.startswith("#")]
    assert "listener 1883 127.0.0.1" in lines and "allow_anonymous false" in lines  # plain: loopback only
    tls = lines[lines.index("listener 8883 0.0.0.0"):]
    script = (LMS_DIR / "mosquitto-start.sh").read_text()
    for option, name in (("cafile", "ca.crt"), ("certfile", "broker.crt"), ("keyfile", "broker.key")):
        assert f"{option} /mosquitto/tls/{name}" in tls  # where mosquitto-start.sh installs them
    assert "TARGET=${BROKER_TLS_TARGET:-/mosquitto/tls}" in script
    assert not [line for line in lines if "$" in line]  # every placeholder filled in


def test_every_variable_is_in_the_example_env_and_documented(compose: dict[str, Any]) -> None:
    used = set(re.findall(r"CLASSTOP_[A-Z_]+", (LMS_DIR / "entrypoint.py").read_text()))
    used |= {"CLASSTOP_LMS_BROKER_PASSWORD", "CLASSTOP_LMS_DYNSEC_PASSWORD", "CLASSTOP_LMS_ADMIN_TOKEN"}
    example = {line.split("=", 1)[0] for line in (LMS_DIR / "site.env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    set_by_compose = set(compose["services"]["lms"]["environment"])
    assert used - set_by_compose <= example
    docs = (ROOT / "docs" / "deploy.md").read_text()
    assert [name for name in sorted(used) if name not in docs] == []
    for service in compose["services"].values():
        assert service["env_file"] == ["site.env"]
    assert [name for name in sorted(set(compose["services"]["lms"]["environment"])) if name not in docs] == []


# ---------------------------------------------------------------- supply chain


LOCK = LMS_DIR / "requirements.lock"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
#: The newest Mosquitto 2.0.x release (ChangeLog.txt of eclipse-mosquitto/mosquitto; docker-library/repo-info).
NEWEST_MOSQUITTO_20 = 22


def lock_pins() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of the lock file (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", LOCK.read_text())
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split(" --hash=")
        name, _, version = requirement.split(";")[0].strip().partition("==")
        assert version, f"{requirement}: not pinned with =="
        pins[canonicalize_name(name)] = (version, [o.strip() for o in options])
    return pins


def extra_requirements(extra: str = "lms") -> list[Requirement]:
    """The requirements of ``extra`` in pyproject.toml, this project's own extras expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result: list[Requirement] = []
    for text in project["optional-dependencies"][extra]:
        req = Requirement(text)
        if canonicalize_name(req.name) == canonicalize_name(project["name"]):
            for sub in sorted(req.extras):
                result += extra_requirements(sub)
        else:
            result.append(req)
    return result


def image_python(dockerfile: list[tuple[str, str]]) -> str:
    tag = args_of(dockerfile, "FROM")[0].split()[0].partition(":")[2].split("@")[0]
    match = re.match(r"(\d+\.\d+)", tag)
    assert match, tag
    return match.group(1)


def test_lms_image_is_pinned(dockerfile: list[tuple[str, str]], compose: dict[str, Any]) -> None:
    for line in args_of(dockerfile, "FROM"):
        assert DIGEST.search(line.split()[0]), f"FROM {line}: not pinned by digest"
    broker = compose["services"]["mosquitto"]["image"]
    match = re.fullmatch(r"eclipse-mosquitto:2\.0\.(\d+)@sha256:[0-9a-f]{64}", broker)
    assert match and int(match.group(1)) >= NEWEST_MOSQUITTO_20, broker

    # The only install: the hashed lock, nothing resolved or built at build time.
    installs = [r for r in args_of(dockerfile, "RUN") if "pip install" in r]
    assert len(installs) == 1
    words = shlex.split(installs[0].split("&&")[0])
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:"} <= set(words), words
    lock_path = words[words.index("-r") + 1]
    assert (ROOT / lock_path).resolve() == LOCK
    assert any(lock_path in rest.split()[:-1] for rest in args_of(dockerfile, "COPY"))

    # Every requirement of the `lms` extra is in the lock, at a version the extra allows, with hashes.
    pins = lock_pins()
    marker_env = cast(dict[str, str], default_environment())  # a TypedDict of strings
    env = {**marker_env, "python_version": image_python(dockerfile), "sys_platform": "linux"}
    for req in extra_requirements():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is missing from {LOCK.name}: run `make lms-lock`"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), f"{name}=={version} does not satisfy {req}"
    for pinned, (_version, hashes) in pins.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), pinned
    # ... resolved for the image's Python
    makefile = (ROOT / "Makefile").read_text()
    assert f"--python-version {image_python(dockerfile)} " in makefile and str(LMS_DIR.name) in makefile


def test_lms_image_has_every_module_the_lms_imports() -> None:
    """Every third-party module the LMS, the contract and the entrypoint import comes from a locked package."""
    sources = [*(ROOT / "edge" / "lms").rglob("*.py"), *(ROOT / "shared").rglob("*.py"), LMS_DIR / "entrypoint.py"]
    modules: dict[str, str] = {}
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("__future__", "shared", "edge", "infra"):
                    modules.setdefault(top, str(path.relative_to(ROOT)))
    distributions = packages_distributions()
    pins = lock_pins()
    for module, where in sorted(modules.items()):
        provided = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert provided & set(pins), f"{module} (imported by {where}) is in no package of {LOCK.name}"
