#!/usr/bin/env python3
"""Validate CycloneDX 1.6 JSON files against the official schema, offline.

Why this exists: cyclonedx-python-lib ships the CycloneDX 1.6 JSON schema
and the SPDX-license and JSF schemas it references, but its own validator
is tied to its model classes. The test suite needs a plain "is this file
valid CycloneDX 1.6" check that never touches the network, so this script
loads the bundled schemas into a local `referencing` registry and runs
jsonschema's Draft 7 validator (with format checks) over each file.

Usage: validate_cdx.py FILE... ; exit status 0 when every file is valid,
1 when any is not (errors on stderr), 2 on usage or setup errors.
"""

import json
import pathlib
import sys

import jsonschema
import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT7

SCHEMA_BASE = "http://cyclonedx.org/schema/"


def schema_dir() -> pathlib.Path:
    import cyclonedx.schema._res as res

    return pathlib.Path(res.__file__).parent


def load_registry(res: pathlib.Path) -> referencing.Registry:
    """Every bundled JSON schema under the URIs the 1.6 schema uses."""
    resources = []
    for path in sorted(res.glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = DRAFT7.create_resource(contents)
        # Relative $refs resolve against the bom schema's $id, so the file
        # name under SCHEMA_BASE is what they ask for; the declared $id
        # (without ".SNAPSHOT") is registered too.
        resources.append((SCHEMA_BASE + path.name, resource))
        if "$id" in contents:
            resources.append((contents["$id"], resource))

    def refuse(uri: str):
        raise referencing.exceptions.NoSuchResource(ref=uri)

    return referencing.Registry(retrieve=refuse).with_resources(resources)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: validate_cdx.py FILE...", file=sys.stderr)
        return 2
    try:
        res = schema_dir()
        schema = json.loads((res / "bom-1.6.SNAPSHOT.schema.json").read_text(encoding="utf-8"))
        registry = load_registry(res)
    except Exception as e:  # noqa: BLE001 - report any setup failure plainly
        print(f"validate_cdx: cannot load schemas: {e}", file=sys.stderr)
        return 2
    validator = jsonschema.Draft7Validator(
        schema, registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    failed = False
    for name in argv[1:]:
        try:
            with open(name, encoding="utf-8") as f:
                bom = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{name}: cannot read: {e}", file=sys.stderr)
            failed = True
            continue
        errors = sorted(validator.iter_errors(bom), key=lambda e: list(e.absolute_path))
        if bom.get("specVersion") != "1.6":
            print(f"{name}: specVersion is not 1.6", file=sys.stderr)
            failed = True
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            print(f"{name}: {where}: {e.message[:300]}", file=sys.stderr)
            failed = True
        if not errors:
            print(f"{name}: valid CycloneDX 1.6")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
