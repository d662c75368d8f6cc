"""deploy/helm/qorgau: `helm lint` and `helm template` where helm is installed; always a
structural check of the chart against the service registry (helm is not on every machine)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from qorgau import registry

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "qorgau"
TEMPLATES = sorted((CHART / "templates").glob("*"))
VALUES: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
OPENERS = ("if ", "range ", "with ", "define ")


def test_the_chart_describes_itself() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2" and chart["name"] == "qorgau"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


def test_every_service_in_the_values_is_registered_with_its_port() -> None:
    # Every registered service is deployed, with its port and whether it is on the bus.
    assert set(VALUES["services"]) == set(registry.SERVICE_NAMES)
    for name, values in VALUES["services"].items():
        found = registry.service(name)
        assert found is not None, f"{name} is not a registered service"
        assert values["port"] == found.http_port()
        assert values["bus"] == found.bus
        assert "hub" in values["modes"]
    assert VALUES["tokens"]["issuer"] in VALUES["services"]
    # The issuer and the console sign; an agency's site runs the shelter and the console.
    assert set(VALUES["tokens"]["signers"]) == {"intake", "console"}
    site = {name for name, values in VALUES["services"].items() if "site" in values["modes"]}
    assert site == {"shelter", "console"}


def test_the_services_template_wires_each_kind_of_service() -> None:
    text = (CHART / "templates" / "services.yaml").read_text(encoding="utf-8")
    # Only the services of the chart's mode; a service off the bus gets no NATS or database.
    assert "has $.Values.mode $svc.modes" in text and "if $svc.bus" in text
    # The shelter reports with its issued token; the console calls the services.
    for variable in ("SHELTER_INTAKE_TOKEN_FILE", "CONSOLE_INTAKE_URL", "CONSOLE_CASEWORK_URL"):
        assert variable in text
    # On a site: the agency's inbox prefix, the hub's JWKS, the site's own signing key.
    for fragment in ("NATS_INBOX_PREFIX", "site.hubJwksUrl", "site-token.key"):
        assert fragment in text


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_templates_are_balanced_and_name_existing_values(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    actions = ACTION.findall(text)
    assert text.count("{{") == len(actions), "an action is not closed"
    opened = sum(1 for action in actions if action.startswith(OPENERS))
    assert opened == sum(1 for action in actions if action == "end"), "unclosed block"
    for path in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
        node: Any = VALUES
        for key in path.strip(".").split("."):
            assert isinstance(node, dict) and key in node, f".Values{path} is not in values.yaml"
            node = node[key]
    if template.suffix == ".yaml":
        assert text.lstrip().startswith(("apiVersion:", "{{")), "not a manifest"
    # The chart holds no secret: only the names of secrets made out of band.
    assert "password:" not in text.lower() and "BEGIN" not in text


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not installed here")
@pytest.mark.parametrize("mode", ["hub", "site"])
def test_helm_lints_and_renders(mode: str) -> None:
    sets = ["--set", f"mode={mode}", "--set", "site.agencyId=kz-75-shelter"]
    helm = str(shutil.which("helm"))
    subprocess.run([helm, "lint", str(CHART), *sets], check=True, capture_output=True)
    rendered = subprocess.run(
        [helm, "template", "qorgau", str(CHART), *sets],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    kinds = {doc["kind"] for doc in yaml.safe_load_all(rendered) if doc}
    assert {"StatefulSet", "Deployment", "Service", "ConfigMap", "Job"} <= kinds
