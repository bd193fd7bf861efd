"""docs/awx.md: the AWX credential types, inventory, survey and extra vars it tells users to paste.

The YAML blocks are read from the guide itself (each follows an `<!-- awx: NAME -->` marker), so
what is tested is what users copy. AWX renders injectors with Jinja2 in a sandbox, with the
credential's inputs and `tower.filename` (`tower.filename.<name>` for `template.<name>` files) in
scope; the tests do the same, then run a playbook the way an AWX job would (kubeconfig only
through the injected environment, one kube_context per host) against real API servers.
"""
from __future__ import annotations

import os
import re

import jinja2
import jinja2.meta
import jinja2.nodes
import jinja2.sandbox
import pytest
import yaml

from tests.harness.collection_path import REPO_ROOT
from tests.harness.playbook_run import run_playbook

DOC = os.path.join(REPO_ROOT, "docs", "awx.md")
BLOCK_RE = re.compile(r"<!-- awx: ([a-z-]+) -->\s*```yaml\n(.*?)```", re.S)
# What AWX accepts in a credential type (awx/main/models/credential: CredentialType schemas).
FIELD_KEYS = {"id", "label", "type", "help_text", "multiline", "secret", "choices", "format",
              "ask_at_runtime"}
FIELD_TYPES = {"string", "boolean"}
INJECTOR_KEYS = {"file", "env", "extra_vars"}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
SAMPLE_KUBECONFIG = "apiVersion: v1\nkind: Config\ncontexts: []\n# secret material\n"


def doc_blocks() -> dict:
    with open(DOC, encoding="utf-8") as fh:
        text = fh.read()
    blocks = {}
    for name, body in BLOCK_RE.findall(text):
        assert name not in blocks, f"two awx:{name} blocks in docs/awx.md"
        blocks[name] = yaml.safe_load(body)
    return blocks


BLOCKS = doc_blocks()
CREDENTIAL_TYPES = [("kubeconfig", "credential-type-inputs", "credential-type-injectors"),
                    ("license", "license-type-inputs", "license-type-injectors")]


def test_guide_has_every_block():
    assert set(BLOCKS) == {"collections-requirements", "project-playbook", "inventory", "group-vars",
                           "credential-type-inputs", "credential-type-injectors",
                           "license-type-inputs", "license-type-injectors", "extra-vars", "survey"}


def referenced_names(template: str) -> tuple[set, set]:
    """(top-level variables, dotted tower./awx. references) of one injector template."""
    ast = jinja2.Environment().parse(template)
    dotted = set()
    for node in ast.find_all(jinja2.nodes.Getattr):
        parts = []
        inner = node
        while isinstance(inner, jinja2.nodes.Getattr):
            parts.insert(0, inner.attr)
            inner = inner.node
        if isinstance(inner, jinja2.nodes.Name) and inner.name in ("tower", "awx"):
            dotted.add(".".join([inner.name] + parts))
    # find_all also yields the inner nodes of a chain (tower.filename of tower.filename.x): keep the longest.
    dotted = {ref for ref in dotted if not any(other.startswith(ref + ".") for other in dotted)}
    return jinja2.meta.find_undeclared_variables(ast), dotted


def injector_templates(injectors: dict):
    for section, entries in injectors.items():
        for key, template in entries.items():
            yield section, key, template


def render_injectors(injectors: dict, inputs: dict, files_dir: str) -> dict:
    """Render like AWX: files first (their paths feed tower.filename), then env and extra_vars."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    files = {}
    for key, template in injectors.get("file", {}).items():
        name = key.partition(".")[2]
        path = os.path.join(files_dir, name or "file")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(env.from_string(template).render(**inputs))
        files[name] = path
    filename = files.get("") or type("Files", (), files)()
    ns = dict(inputs, tower={"filename": filename}, awx={"filename": filename})
    return {
        "files": files,
        "env": {k: env.from_string(v).render(**ns) for k, v in injectors.get("env", {}).items()},
        "extra_vars": {k: env.from_string(v).render(**ns) for k, v in injectors.get("extra_vars", {}).items()},
    }


@pytest.mark.parametrize("kind,inputs_block,injectors_block", CREDENTIAL_TYPES)
def test_credential_type_inputs_are_valid(kind, inputs_block, injectors_block):
    inputs = BLOCKS[inputs_block]
    assert set(inputs) <= {"fields", "required"}
    ids = [f["id"] for f in inputs["fields"]]
    assert len(ids) == len(set(ids)), f"duplicate input ids in {kind}"
    for field in inputs["fields"]:
        assert set(field) <= FIELD_KEYS, f"{kind}.{field['id']}: unknown keys {set(field) - FIELD_KEYS}"
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", field["id"])
        assert field.get("type", "string") in FIELD_TYPES
        assert field.get("label"), f"{kind}.{field['id']} has no label"
    assert set(inputs.get("required", [])) <= set(ids)


@pytest.mark.parametrize("kind,inputs_block,injectors_block", CREDENTIAL_TYPES)
def test_injectors_reference_only_declared_inputs(kind, inputs_block, injectors_block):
    injectors = BLOCKS[injectors_block]
    assert set(injectors) <= INJECTOR_KEYS
    ids = {f["id"] for f in BLOCKS[inputs_block]["fields"]}
    file_names = {k.partition(".")[2] for k in injectors.get("file", {})}
    for key in injectors.get("file", {}):
        assert key == "template" or re.fullmatch(r"template\.[a-z_]+", key), key
    for section, key, template in injector_templates(injectors):
        names, dotted = referenced_names(template)
        assert names - {"tower", "awx"} <= ids, f"{kind} {section}.{key} uses undeclared {names - ids}"
        for ref in dotted:
            parts = ref.split(".")  # tower.filename[.<file>]
            assert parts[1] == "filename", f"{kind} {section}.{key}: unknown {ref}"
            file_name = ".".join(parts[2:])
            assert file_name in file_names, f"{kind} {section}.{key}: {ref} names no injected file"


def test_secrets_are_secret_inputs():
    kube = {f["id"]: f for f in BLOCKS["credential-type-inputs"]["fields"]}
    lic = {f["id"]: f for f in BLOCKS["license-type-inputs"]["fields"]}
    assert kube["kubeconfig"].get("secret") is True
    assert kube["kubeconfig"].get("multiline") is True
    assert lic["license_key"].get("secret") is True
    assert BLOCKS["credential-type-inputs"]["required"] == ["kubeconfig"]
    assert "license_key" in BLOCKS["license-type-inputs"]["required"]


def test_kubeconfig_lands_in_a_file_named_by_the_environment(tmp_path):
    rendered = render_injectors(BLOCKS["credential-type-injectors"], {"kubeconfig": SAMPLE_KUBECONFIG},
                                str(tmp_path))
    path = rendered["files"]["kubeconfig"]
    with open(path, encoding="utf-8") as fh:
        assert fh.read() == SAMPLE_KUBECONFIG
    # kubernetes.core's fallback for every module of the collection, and helm's own variable.
    assert rendered["env"] == {"K8S_AUTH_KUBECONFIG": path, "KUBECONFIG": path}
    assert not rendered["extra_vars"], "the kubeconfig must not travel as an extra var"
    # The secret itself is only in the file.
    assert all("secret material" not in v for v in rendered["env"].values())


def test_license_reaches_the_playbooks_as_their_variables(tmp_path):
    rendered = render_injectors(BLOCKS["license-type-injectors"],
                                {"license_key": "LICENSE-123", "istioctl_repo_key": ""}, str(tmp_path))
    assert rendered["extra_vars"] == {"gloomesh_license_key": "LICENSE-123", "gloomesh_istioctl_repo_key": ""}
    assert not rendered["env"] and not rendered["files"]
    defaults = roles_defaults_text()
    for var in rendered["extra_vars"]:
        assert var in defaults, f"{var} is not read by any role"


def roles_defaults_text() -> str:
    text = []
    for role in sorted(os.listdir(os.path.join(REPO_ROOT, "roles"))):
        path = os.path.join(REPO_ROOT, "roles", role, "defaults", "main.yml")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                text.append(fh.read())
    return "\n".join(text)


def test_inventory_hosts_are_clusters_without_kubeconfig():
    groups = BLOCKS["inventory"]["all"]["children"]
    assert set(groups) == {"workload_clusters", "management_cluster"}
    for group in groups.values():
        for name, host in group["hosts"].items():
            assert host["kube_context"] and host["cluster_name"], name
            assert "kubeconfig" not in host, f"{name}: the credential provides the kubeconfig"
    assert BLOCKS["group-vars"]["ansible_connection"] == "local"
    assert "kubeconfig" not in BLOCKS["group-vars"]


def test_project_playbook_imports_a_playbook_of_the_collection():
    (play,) = BLOCKS["project-playbook"]
    target = play["ansible.builtin.import_playbook"]
    assert target.startswith("gloomesh.multicluster.")
    assert os.path.exists(os.path.join(REPO_ROOT, "playbooks", target.split(".")[-1] + ".yml"))
    names = [c["name"] for c in BLOCKS["collections-requirements"]["collections"]]
    assert names == ["gloomesh.multicluster", "kubernetes.core"]


def declared_inputs():
    """The inventory inputs, as the preflight role declares (and checks) them."""
    with open(os.path.join(REPO_ROOT, "roles", "preflight", "meta", "argument_specs.yml"), encoding="utf-8") as fh:
        return set(yaml.safe_load(fh)["argument_specs"]["main"]["options"])


def test_extra_vars_and_survey_use_variables_the_roles_read():
    defaults = roles_defaults_text() + " ".join(declared_inputs())
    for var in list(BLOCKS["extra-vars"]) + list(BLOCKS["group-vars"]):
        if var.startswith("gloomesh_"):
            assert var in defaults, f"{var} is not read by any role"
    survey = BLOCKS["survey"]
    assert survey["name"] and survey["description"]
    for question in survey["spec"]:
        assert question["type"] in SURVEY_TYPES
        assert question["variable"] in defaults, f"survey variable {question['variable']} is not read by any role"
        if question["type"] == "multiplechoice":
            assert question["default"] in question["choices"]


def test_survey_linking_choices_match_the_role_argument_spec():
    with open(os.path.join(REPO_ROOT, "roles", "preflight", "meta", "argument_specs.yml"), encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)["argument_specs"]["main"]["options"]
    (question,) = [q for q in BLOCKS["survey"]["spec"] if q["variable"] == "gloomesh_linking"]
    assert sorted(question["choices"]) == sorted(spec["preflight_linking"]["choices"])


PLAYBOOK = """
- name: What an AWX job does with the guide's inventory and credential
  hosts: workload_clusters:management_cluster
  gather_facts: false
  tasks:
    - name: Read the cluster through the injected kubeconfig and this host's context
      kubernetes.core.k8s_info:
        kind: Namespace
        name: kube-system
        context: "{{ kube_context }}"
      register: awx_ns

    - name: A module of the collection connects the same way (check mode, reads only)
      gloomesh.multicluster.servicemeshcontroller:
        name: awx-credential-probe
        state: absent
        context: "{{ kube_context }}"
      check_mode: true
      register: awx_smc

    - name: Nothing to remove
      ansible.builtin.assert:
        that: not awx_smc.changed

    - name: Each host reached its own cluster (three API servers, three different kube-system)
      ansible.builtin.assert:
        that: >-
          ansible_play_hosts_all | map('extract', hostvars, ['awx_ns', 'resources', 0, 'metadata', 'uid'])
          | unique | length == ansible_play_hosts_all | length
      run_once: true
"""


def test_job_reaches_every_cluster_through_the_credential(kubeconfig, tmp_path):
    """End to end: no kubeconfig variable anywhere, only the credential's file and environment."""
    with open(kubeconfig, encoding="utf-8") as fh:
        content = fh.read()
    rendered = render_injectors(BLOCKS["credential-type-injectors"], {"kubeconfig": content}, str(tmp_path))
    inventory = BLOCKS["inventory"]
    group_vars = dict(BLOCKS["group-vars"])
    inventory["all"]["vars"] = {k: v for k, v in group_vars.items() if not k.startswith("gloomesh_")}
    playbook = tmp_path / "job.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    result = run_playbook(str(playbook), inventory=inventory, env=rendered["env"])
    assert result["rc"] == 0, result["stdout"] + result["stderr"]
    assert set(result["recap"]) == {"cluster1", "cluster2", "mgmt"}
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in result["recap"].values())
