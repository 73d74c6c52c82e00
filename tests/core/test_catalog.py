"""The SKU table as data: sizes, families, exemptions, case-insensitive lookup."""

from fractions import Fraction

import pytest

from mlplan.domain.catalog import AZURE_SKUS, DEFAULT_CATALOG, Catalog, InstanceType

# The exempt list, verbatim from shared/reference/azureml-online-endpoints.md.
EXEMPT = {
    "Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4", "Standard_NC96ads_A100_v4",
    "Standard_NC40ads_H100_v5", "Standard_NC80adis_H100_v5", "Standard_ND96amsr_A100_v4",
    "Standard_ND96asr_v4", "Standard_ND40rs_v2", "Standard_ND96is_H100_v5",
    "Standard_ND96isr_H100_v5",
}

SCENARIOS = [
    # name, sku as written, cores, memory GiB, gpus, family
    ("studio default", "Standard_DS3_v2", 4, 14, 0, "standardDSv2Family"),
    ("SDK default", "Standard_F4s_v2", 4, 8, 0, "standardFSv2Family"),
    ("upper case finds the SKU", "STANDARD_DS3_V2", 4, 14, 0, "standardDSv2Family"),
    ("DS1 has half GiB memory", "Standard_DS1_v2", 1, 3.5, 0, "standardDSv2Family"),
    ("E64s breaks the 8 GiB/core series", "Standard_E64s_v3", 64, 432, 0, "standardESv3Family"),
    ("T4 GPU", "Standard_NC4as_T4_v3", 4, 28, 1, "standardNCASv3_T4Family"),
    ("V100 x4", "Standard_NC24s_v3", 24, 448, 4, "standardNCSv3Family"),
    ("partial A10", "Standard_NV6ads_A10_v5", 6, 55, Fraction(1, 6), "standardNVADSA10v5Family"),
    ("H100 x8", "Standard_ND96isr_H100_v5", 96, 1900, 8, "standardNDv5H100Family"),
    ("FX series", "Standard_FX12mds", 12, 252, 0, "standardFXMDVSFamily"),
    ("L v3 series", "standard_l80s_v3", 80, 640, 0, "standardLSv3Family"),
]


@pytest.mark.parametrize(("name", "sku", "cores", "memory_gib", "gpus", "family"), SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_lookup(name: str, sku: str, cores: int, memory_gib: float, gpus: Fraction,
                family: str) -> None:
    found = DEFAULT_CATALOG.get(sku)
    assert found is not None
    assert (found.cpu_millis, found.memory_mib, found.gpus, found.family) == (
        cores * 1000, round(memory_gib * 1024), Fraction(gpus), family)


def test_exempt_set_is_exactly_the_reference_list() -> None:
    assert {s.name for s in AZURE_SKUS if s.exempt} == EXEMPT


def test_names_are_unique_case_insensitively() -> None:
    names = [s.name.casefold() for s in AZURE_SKUS]
    assert len(names) == len(set(names)) == 85


def test_partial_gpu_still_takes_one_device() -> None:
    sku = DEFAULT_CATALOG.get("Standard_NV6ads_A10_v5")
    assert sku is not None and sku.whole_gpus == 1


def test_custom_types_shadow_and_extend() -> None:
    custom = InstanceType("gpu-small", 4000, 16384, Fraction(1), family="onprem")
    catalog = Catalog.build([custom])
    assert catalog.get("GPU-SMALL") == custom
    assert catalog.get("Standard_DS3_v2") is not None
    assert catalog.suggest("Standard_DS3v2")[0] == "Standard_DS3_v2"
