"""Instance types: Azure's managed online endpoint SKU list as data, plus custom types.

A SKU's size is what one instance occupies: cores (whole vCPUs for Azure SKUs; custom and
Kubernetes types may be fractional, so CPU is kept in millicores), memory in MiB and GPUs.
Lookups are case-insensitive, as in Azure: ``STANDARD_DS3_V2`` is ``Standard_DS3_v2``.

Exempt SKUs (the large A100/H100/ND types) are not charged the 20% upgrade reservation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

MIB_PER_GIB = 1024


@dataclass(frozen=True)
class Toleration:
    key: str
    operator: str = "Exists"
    value: str = ""
    effect: str = ""


@dataclass(frozen=True)
class InstanceType:
    """One instance size. ``cpu_millis`` 4000 == 4 cores; ``memory_mib`` 14336 == 14 GiB."""

    name: str
    cpu_millis: int
    memory_mib: int
    gpus: Fraction = Fraction(0)
    gpu_model: str = ""
    family: str = ""
    exempt: bool = False
    custom: bool = False
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = field(default_factory=tuple)

    @property
    def is_gpu(self) -> bool:
        return self.gpus > 0

    @property
    def whole_gpus(self) -> int:
        """Devices to request from a scheduler: a partial GPU (1/6 of an A10) still takes one."""
        return -(-self.gpus.numerator // self.gpus.denominator) if self.gpus else 0


def _sku(
    name: str,
    cores: int,
    memory_gib: float,
    family: str,
    gpus: Fraction | int = 0,
    gpu_model: str = "",
    exempt: bool = False,
) -> InstanceType:
    return InstanceType(
        name=name,
        cpu_millis=cores * 1000,
        memory_mib=round(memory_gib * MIB_PER_GIB),
        gpus=Fraction(gpus),
        gpu_model=gpu_model,
        family=family,
        exempt=exempt,
    )


def _series(
    pattern: str, sizes: Iterable[int], memory_per_core: int, family: str
) -> list[InstanceType]:
    return [_sku(pattern.format(n=n), n, n * memory_per_core, family) for n in sizes]


def _azure_skus() -> list[InstanceType]:
    skus = [
        _sku("Standard_DS1_v2", 1, 3.5, "standardDSv2Family"),
        _sku("Standard_DS2_v2", 2, 7, "standardDSv2Family"),
        _sku("Standard_DS3_v2", 4, 14, "standardDSv2Family"),
        _sku("Standard_DS4_v2", 8, 28, "standardDSv2Family"),
        _sku("Standard_DS5_v2", 16, 56, "standardDSv2Family"),
    ]
    d_sizes = (2, 4, 8, 16, 32, 48, 64, 96)
    skus += _series("Standard_D{n}as_v4", d_sizes, 4, "standardDASv4Family")
    skus += _series("Standard_D{n}a_v4", d_sizes, 4, "standardDAv4Family")
    skus += _series("Standard_E{n}s_v3", (2, 4, 8, 16, 32, 48), 8, "standardESv3Family")
    skus.append(_sku("Standard_E64s_v3", 64, 432, "standardESv3Family"))
    skus += _series("Standard_F{n}s_v2", (2, 4, 8, 16, 32, 48, 64, 72), 2, "standardFSv2Family")
    for cores, mem in ((4, 84), (12, 252), (24, 504), (36, 756), (48, 1008)):
        skus.append(_sku(f"Standard_FX{cores}mds", cores, mem, "standardFXMDVSFamily"))
    l_sizes = (8, 16, 32, 48, 64, 80)
    skus += _series("Standard_L{n}as_v3", l_sizes, 8, "standardLASv3Family")
    skus += _series("Standard_L{n}s_v2", l_sizes, 8, "standardLSv2Family")
    skus += _series("Standard_L{n}s_v3", l_sizes, 8, "standardLSv3Family")
    t4 = "standardNCASv3_T4Family"
    skus += [
        _sku("Standard_NC4as_T4_v3", 4, 28, t4, 1, "T4"),
        _sku("Standard_NC8as_T4_v3", 8, 56, t4, 1, "T4"),
        _sku("Standard_NC16as_T4_v3", 16, 110, t4, 1, "T4"),
        _sku("Standard_NC64as_T4_v3", 64, 440, t4, 4, "T4"),
    ]
    for suffix, family, model in (("v2", "standardNCSv2Family", "P100"),
                                  ("v3", "standardNCSv3Family", "V100")):
        for cores, mem, gpus in ((6, 112, 1), (12, 224, 2), (24, 448, 4)):
            skus.append(_sku(f"Standard_NC{cores}s_{suffix}", cores, mem, family, gpus, model))
    a100 = "standardNCADSA100v4Family"
    h100 = "standardNCADSH100v5Family"
    skus += [
        _sku("Standard_NC24ads_A100_v4", 24, 220, a100, 1, "A100", exempt=True),
        _sku("Standard_NC48ads_A100_v4", 48, 440, a100, 2, "A100", exempt=True),
        _sku("Standard_NC96ads_A100_v4", 96, 880, a100, 4, "A100", exempt=True),
        _sku("Standard_NC40ads_H100_v5", 40, 320, h100, 1, "H100", exempt=True),
        _sku("Standard_NC80adis_H100_v5", 80, 640, h100, 2, "H100", exempt=True),
        _sku("Standard_ND96amsr_A100_v4", 96, 1900, "standardNDAMSv4_A100Family", 8, "A100",
             exempt=True),
        _sku("Standard_ND96asr_v4", 96, 900, "standardNDASv4_A100Family", 8, "A100", exempt=True),
        _sku("Standard_ND40rs_v2", 40, 672, "standardNDSv2Family", 8, "V100", exempt=True),
        # Memory of ND96is_H100_v5 is not documented; assumed equal to ND96isr_H100_v5.
        _sku("Standard_ND96is_H100_v5", 96, 1900, "standardNDv5H100Family", 8, "H100",
             exempt=True),
        _sku("Standard_ND96isr_H100_v5", 96, 1900, "standardNDv5H100Family", 8, "H100",
             exempt=True),
    ]
    a10 = "standardNVADSA10v5Family"
    skus += [
        _sku("Standard_NV6ads_A10_v5", 6, 55, a10, Fraction(1, 6), "A10"),
        _sku("Standard_NV12ads_A10_v5", 12, 110, a10, Fraction(1, 3), "A10"),
        _sku("Standard_NV18ads_A10_v5", 18, 220, a10, Fraction(1, 2), "A10"),
        _sku("Standard_NV36ads_A10_v5", 36, 440, a10, 1, "A10"),
        _sku("Standard_NV36adms_A10_v5", 36, 880, a10, 1, "A10"),
        _sku("Standard_NV72ads_A10_v5", 72, 880, a10, 2, "A10"),
    ]
    return skus


AZURE_SKUS: tuple[InstanceType, ...] = tuple(_azure_skus())

#: Azure's default instance type of an Azure Arc Kubernetes compute: requests cpu 100m,
#: memory 2Gi; limits cpu 2, memory 2Gi. Sized here by its limits (2 cores, 2 GiB).
KUBERNETES_DEFAULT = InstanceType(
    name="defaultinstancetype", cpu_millis=2000, memory_mib=2048, family="kubernetes", custom=True
)


@dataclass(frozen=True)
class Catalog:
    """Instance types by case-folded name. Custom types shadow Azure SKUs of the same name."""

    by_key: Mapping[str, InstanceType]

    @classmethod
    def build(cls, custom: Iterable[InstanceType] = ()) -> Catalog:
        table = {sku.name.casefold(): sku for sku in (*AZURE_SKUS, KUBERNETES_DEFAULT)}
        table.update({t.name.casefold(): t for t in custom})
        return cls(by_key=table)

    def get(self, name: str) -> InstanceType | None:
        return self.by_key.get(name.casefold())

    def names(self) -> list[str]:
        return sorted(t.name for t in self.by_key.values())

    def families(self) -> list[str]:
        """The VM families quota is counted in (``standardDSv2Family``, custom ones...)."""
        return sorted({t.family for t in self.by_key.values() if t.family})

    def quota_key_problem(self, key: str) -> str:
        """"" when ``key`` names a quota limit (a family or ``total``), else what to write:
        ``standardDSv2Famly`` -> "unknown VM family 'standardDSv2Famly'; did you mean
        'standardDSv2Family'? ..." (a misspelt family would silently leave the real one
        unlimited)."""
        known = ["total", *self.families()]
        if key in known:
            return ""
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return (f"unknown VM family '{key[:80]}'; {hint}a quota limit names 'total' or the "
                "family of an instance type (e.g. standardDSv2Family for Standard_DS3_v2, or "
                "the 'family' of one in mlplan:instanceTypes)")

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Closest known names, for 'did you mean' hints."""
        folded = {t.name.casefold(): t.name for t in self.by_key.values()}
        close = difflib.get_close_matches(name.casefold(), list(folded), n=limit, cutoff=0.6)
        return [folded[c] for c in close]


DEFAULT_CATALOG = Catalog.build()
