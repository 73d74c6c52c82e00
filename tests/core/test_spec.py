"""Spec loading: Azure ML CLI v2 YAML in, endpoints and diagnostics (file:line field) out."""

from textwrap import dedent

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlplan.domain import codes
from mlplan.domain.spec import SourceText, parse

ENDPOINT = dedent("""\
    $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
    name: my-endpoint
    auth_mode: key
    traffic:
      blue: 100
    """)

BLUE = dedent("""\
    $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
    name: blue
    endpoint_name: my-endpoint
    model:
      path: ../model
    code_configuration:
      code: ../score
      scoring_script: score.py
    environment:
      image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250101.v1
    instance_type: Standard_DS3_v2
    instance_count: 3
    """)


def plan(*docs: tuple[str, str]) -> list[tuple[str, str, int, str]]:
    result = parse([SourceText(path, text) for path, text in docs])
    return [(d.code, d.location.file, d.location.line, d.location.field)
            for d in result.diagnostics]


def replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


BAD = [
    # name, endpoint text, deployment text, expected (code, file, line, field)
    ("misspelt key with a suggestion", ENDPOINT,
     replace_line(BLUE, "instance_type:", "instnce_type:"),
     [(codes.UNKNOWN_KEY, "d/blue.yml", 11, "instnce_type")]),
    ("count is not a number", ENDPOINT,
     replace_line(BLUE, "instance_count: 3", "instance_count: x"),
     [(codes.WRONG_TYPE, "d/blue.yml", 12, "instance_count")]),
    ("count is zero", ENDPOINT, replace_line(BLUE, "instance_count: 3", "instance_count: 0"),
     [(codes.INVALID_VALUE, "d/blue.yml", 12, "instance_count")]),
    ("nested unknown key", ENDPOINT, replace_line(BLUE, "  scoring_script:", "  scoring_scrip:"),
     # the missing scoring_script is the typo's consequence: reported once, as the typo
     [(codes.UNKNOWN_KEY, "d/blue.yml", 8, "code_configuration.scoring_scrip")]),
    ("bad deployment name", ENDPOINT.replace("blue", "-bl"), replace_line(BLUE, "name: blue",
                                                                          "name: -bl"),
     [(codes.INVALID_NAME, "d/blue.yml", 2, "name")]),
    ("endpoint name too long", ENDPOINT.replace("my-endpoint", "e" * 33),
     BLUE.replace("my-endpoint", "e" * 33),
     [(codes.INVALID_NAME, "e.yml", 2, "name")]),
    ("deployment names an unknown endpoint", ENDPOINT,
     replace_line(BLUE, "endpoint_name: my-endpoint", "endpoint_name: my-endpont"),
     [(codes.UNKNOWN_ENDPOINT, "d/blue.yml", 3, "endpoint_name")]),
    ("bad auth mode", replace_line(ENDPOINT, "auth_mode: key", "auth_mode: none"), BLUE,
     [(codes.INVALID_VALUE, "e.yml", 3, "auth_mode")]),
    ("traffic percent over 100", replace_line(ENDPOINT, "blue: 100", "blue: 101"), BLUE,
     [(codes.INVALID_VALUE, "e.yml", 5, "traffic.blue")]),
    ("YAML syntax error", ENDPOINT, BLUE + "bad: [unclosed\n",
     [(codes.YAML_SYNTAX, "d/blue.yml", 14, "")]),
    ("duplicate key", ENDPOINT, BLUE + "instance_count: 4\n",
     [(codes.YAML_SYNTAX, "d/blue.yml", 13, "instance_count")]),
    ("model reference without azureml: prefix", ENDPOINT,
     replace_line(BLUE, "model:\n  path: ../model", "model: my-model:1"),
     [(codes.INVALID_VALUE, "d/blue.yml", 4, "model")]),
    ("resources on a managed deployment", ENDPOINT,
     BLUE + "resources:\n  requests:\n    cpu: '1'\n    memory: 1Gi\n",
     [(codes.INVALID_VALUE, "d/blue.yml", 13, "resources")]),
    ("autoscale on a managed deployment", ENDPOINT,
     BLUE + "scale_settings:\n  type: target_utilization\n",
     [(codes.INVALID_VALUE, "d/blue.yml", 14, "scale_settings.type")]),
    ("top level is a list", ENDPOINT, "- name: blue\n",
     [(codes.WRONG_TYPE, "d/blue.yml", 1, "")]),
    ("explicit file that is not an endpoint", ENDPOINT, "channels: [conda-forge]\n",
     [(codes.UNKNOWN_DOCUMENT, "d/blue.yml", 1, "")]),
    ("unquoted template placeholder", ENDPOINT,
     replace_line(BLUE, "endpoint_name: my-endpoint", "endpoint_name: {{ENDPOINT_NAME}}"),
     [(codes.YAML_SYNTAX, "d/blue.yml", 3, "endpoint_name"),
      (codes.WRONG_TYPE, "d/blue.yml", 3, "endpoint_name")]),
]


@pytest.mark.parametrize(("name", "endpoint", "deployment", "expected"), BAD,
                         ids=[s[0] for s in BAD])
def test_bad_input_is_reported_with_file_line_and_field(
    name: str, endpoint: str, deployment: str, expected: list[tuple[str, str, int, str]]
) -> None:
    assert sorted(plan(("e.yml", endpoint), ("d/blue.yml", deployment))) == sorted(expected)


def test_every_problem_in_one_pass() -> None:
    deployment = (BLUE.replace("instance_count: 3", "instance_count: many")
                  .replace("instance_type:", "instance_typ:")
                  .replace("endpoint_name: my-endpoint", "endpoint_name: nowhere"))
    endpoint = ENDPOINT.replace("auth_mode: key", "auth_mode: open")
    found = plan(("e.yml", endpoint), ("d/blue.yml", deployment), ("x.yml", "a: [\n"))
    assert {c for c, *_ in found} >= {codes.WRONG_TYPE, codes.UNKNOWN_KEY, codes.INVALID_VALUE,
                                      codes.UNKNOWN_ENDPOINT, codes.YAML_SYNTAX}


def test_messages_say_how_to_fix() -> None:
    result = parse([SourceText("e.yml", ENDPOINT),
                    SourceText("b.yml", BLUE.replace("instance_type:", "instnce_type:"))])
    unknown = next(d for d in result.diagnostics if d.code == codes.UNKNOWN_KEY)
    assert str(unknown) == ("b.yml:11 instnce_type: error MLP101: unknown key 'instnce_type'; "
                            "did you mean 'instance_type'?")
    template = parse([SourceText("t.yml", "name: {{X}}\nendpoint_name: e\n")])
    assert "template placeholder" in template.diagnostics[0].message
    unclosed = parse([SourceText("u.yml", "name: a\nmodel: [x\n")])
    assert "starts on line 2" in unclosed.diagnostics[0].message


def test_defaults_are_azures() -> None:
    result = parse([SourceText("e.yml", ENDPOINT), SourceText("d/blue.yml", BLUE)])
    assert result.diagnostics == ()
    (endpoint,) = result.endpoints
    (blue,) = endpoint.deployments
    assert blue.request_settings.request_timeout_ms == 5000
    assert blue.request_settings.max_concurrent_requests_per_instance == 1
    assert (blue.liveness_probe.initial_delay, blue.liveness_probe.period,
            blue.liveness_probe.timeout, blue.liveness_probe.failure_threshold) == (10, 10, 2, 30)
    assert blue.scale_settings.type == "default"
    assert blue.model is not None and blue.model.path == "model"  # resolved from d/
    assert blue.code_configuration is not None and blue.code_configuration.code == "score"
    assert endpoint.auth_mode == "key" and endpoint.traffic == (("blue", 100),)


def test_kubernetes_defaults_and_resources() -> None:
    deployment = dedent("""\
        $schema: https://azuremlschemas.azureedge.net/latest/kubernetesOnlineDeployment.schema.json
        name: blue
        type: kubernetes
        endpoint_name: my-endpoint
        resources:
          requests: {cpu: "0.1", memory: "0.1Gi"}
          limits: {cpu: "0.2", memory: "200Mi", nvidia.com/gpu: 1}
        """)
    result = parse([SourceText("e.yml", ENDPOINT), SourceText("b.yml", deployment)])
    assert result.diagnostics == ()
    blue = result.endpoints[0].deployments[0]
    assert blue.kind == "kubernetes" and blue.instance_count == 1
    assert blue.scale_settings.type == "target_utilization"
    assert blue.resources is not None
    assert (blue.resources.requests_cpu_millis, blue.resources.limits_cpu_millis,
            blue.resources.requests_memory_mib, blue.resources.limits_memory_mib,
            blue.resources.limits_gpus) == (100, 200, 103, 200, 1)


def test_case_insensitive_enums_and_scalar_env_vars() -> None:
    endpoint = ENDPOINT.replace("auth_mode: key", "auth_mode: Key")
    deployment = BLUE + "environment_variables:\n  FLAG: true\n  N: 3\n"
    result = parse([SourceText("e.yml", endpoint), SourceText("b.yml", deployment)])
    assert result.diagnostics == ()
    assert result.endpoints[0].auth_mode == "key"
    assert result.endpoints[0].deployments[0].environment_variables == (("FLAG", "true"),
                                                                        ("N", "3"))


def test_duplicates_are_reported_once_each() -> None:
    found = plan(("e.yml", ENDPOINT), ("e2.yml", ENDPOINT), ("a.yml", BLUE), ("b.yml", BLUE))
    assert sorted(c for c, *_ in found) == [codes.DUPLICATE_ENDPOINT, codes.DUPLICATE_DEPLOYMENT]


def test_missing_endpoint_name_is_inferred_from_the_folder() -> None:
    no_name = BLUE.replace("endpoint_name: my-endpoint\n", "")
    result = parse([SourceText("f/e.yml", ENDPOINT), SourceText("f/b.yml", no_name)])
    assert result.diagnostics == ()
    assert result.endpoints[0].deployments[0].endpoint_name == "my-endpoint"
    assert plan(("e.yml", ENDPOINT), ("f/b.yml", no_name)) == [
        (codes.MISSING_FIELD, "f/b.yml", 1, "endpoint_name")]


def test_folder_scan_skips_other_yaml() -> None:
    conda = SourceText("env/conda.yml", "name: env\ndependencies: [python=3.11]\n",
                       explicit=False)
    result = parse([SourceText("e.yml", ENDPOINT), SourceText("b.yml", BLUE), conda])
    assert result.diagnostics == ()


# --- never a traceback ------------------------------------------------------------------------

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=12))
KEYS = ["$schema", "name", "endpoint_name", "model", "environment", "instance_type",
        "instance_count", "traffic", "mirror_traffic", "request_settings", "scale_settings",
        "resources", "auth_mode", "code_configuration", "liveness_probe", "type", "path"]
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children,
                        max_size=5),
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(yaml_values)
def test_random_documents_never_raise(value: object) -> None:
    import yaml

    text = yaml.safe_dump(value, allow_unicode=True)
    result = parse([SourceText("r.yml", text)])
    assert all(d.location.file == "r.yml" for d in result.diagnostics)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n %@`,?0123456789")),
               max_size=80))
def test_random_text_never_raises(text: str) -> None:
    parse([SourceText("r.yml", text)])
