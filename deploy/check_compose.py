#!/usr/bin/env python3
"""Checks docker-compose.yml without a Docker engine (run by check-compose.sh).

Usage: check_compose.py COMPOSE_FILE SCHEMA ENV_FILE [INFRAGRAPH_BIN]

1. Interpolates the file the way Compose does (${VAR}, ${VAR:-default},
   ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR, $$), with the variables
   of ENV_FILE under those of the environment, and validates the result
   against the Compose Specification's JSON schema.
2. Checks this project's rules: every image tag pinned (not latest, not
   missing); a healthcheck on every service; every depends_on waits for
   service_healthy; no container_name on the scalable normalizer.
3. With INFRAGRAPH_BIN: each infragraph stage's command is a real
   subcommand, every INFRAGRAPH_* variable it sets is one that subcommand
   reads (the `[env: …]` lines of its --help), and `infragraph
   --check-config COMMAND` accepts the command with that environment.

Prints one line per problem and exits 1 if there is any.
"""

import os
import re
import subprocess
import sys

import jsonschema
import yaml

VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def read_env_file(path):
    env = {}
    if path and os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def interpolate(value, env, where, problems):
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}", problems) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m):
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(5)
        op, arg = m.group(3), m.group(4) or ""
        val = env.get(name)
        unset_or_empty = val is None or (op and op.startswith(":") and val == "")
        if op in (":-", "-"):
            return interpolate(arg, env, where, problems) if unset_or_empty else val
        if op in (":?", "?"):
            if unset_or_empty:
                problems.append(f"{where}: required variable {name} is missing: {arg}")
                return ""
            return val
        return val or ""

    return VAR.sub(sub, value)


def image_pinned(image):
    # name[:tag][@digest]; a registry port (host:5000/name) is not a tag.
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def env_vars_in_help(binary, args):
    out = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    if out.returncode != 0:
        return None
    return set(re.findall(r"\[env: (INFRAGRAPH_[A-Z0-9_]+)", out.stdout))


def check_config(binary, args, environment):
    """The stage's own parser on its command and environment, as it starts
    in the container: None if it accepts them, else what it said."""
    env = {"PATH": os.environ.get("PATH", "")}
    env.update({k: str(v) for k, v in environment.items() if v is not None})
    out = subprocess.run([binary, "--check-config", *args], capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    if out.returncode == 0:
        return None
    return (out.stderr or out.stdout).strip() or f"exit status {out.returncode}"


def main():
    compose_file, schema_file, env_file = sys.argv[1:4]
    binary = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
    problems = []

    with open(compose_file, encoding="utf-8") as f:
        raw = yaml.safe_load(f)  # merge keys (<<) resolved, as Compose does
    env = {**read_env_file(env_file), **os.environ}
    doc = interpolate(raw, env, "", problems)

    with open(schema_file, encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    validator = jsonschema.Draft7Validator(schema)
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in err.absolute_path) or "(top)"
        problems.append(f"schema: {path}: {err.message}")

    services = doc.get("services") or {}
    for name, svc in services.items():
        if not isinstance(svc, dict):
            continue
        image = svc.get("image")
        if image is None:
            problems.append(f"services.{name}: no image (name and pin the image it builds or pulls)")
        elif not image_pinned(image):
            problems.append(f"services.{name}.image: {image} is not pinned to a tag")
        hc = svc.get("healthcheck")
        if not hc or hc.get("disable") or hc.get("test") in (["NONE"], "NONE"):
            problems.append(f"services.{name}: no healthcheck")
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            problems.append(f"services.{name}.depends_on: a list does not wait for health; use condition: service_healthy")
        else:
            for dep, spec in deps.items():
                if dep not in services:
                    problems.append(f"services.{name}.depends_on: no service {dep}")
                if (spec or {}).get("condition") != "service_healthy":
                    problems.append(f"services.{name}.depends_on.{dep}: condition is not service_healthy")
    if "container_name" in services.get("normalizer", {}):
        problems.append("services.normalizer: container_name prevents --scale normalizer=N")

    if binary:
        checked = 0
        for name, svc in services.items():
            image = str(svc.get("image", ""))
            command = svc.get("command")
            if not image.startswith("infragraph:") and "INFRAGRAPH_IMAGE" not in str(raw["services"][name].get("image", "")):
                continue
            if isinstance(command, str):
                command = command.split()
            known = env_vars_in_help(binary, command or [])
            if known is None:
                problems.append(f"services.{name}.command: `infragraph {' '.join(command or [])}` is not a command of {binary}")
                continue
            environment = svc.get("environment") or {}
            if isinstance(environment, list):
                environment = dict(e.split("=", 1) if "=" in e else (e, None) for e in environment)
            for var in environment:
                if var.startswith("INFRAGRAPH_KAFKA_X_"):
                    continue  # librdkafka pass-through: any key
                if var.startswith("INFRAGRAPH_") and var not in known:
                    problems.append(f"services.{name}.environment.{var}: `infragraph {' '.join(command)}` reads no such variable")
            problem = check_config(binary, command or [], environment)
            if problem:
                problems.append(f"services.{name}: `infragraph --check-config {' '.join(command or [])}` with its environment: {problem}")
            checked += 1
        if not checked:
            problems.append("no infragraph stage found to check against the CLI")

    for p in problems:
        print(p)
    print(f"{compose_file}: {len(services)} services, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
