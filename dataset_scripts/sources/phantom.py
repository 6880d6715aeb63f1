"""The built-in phantom source: N procedural chest radiographs with matching reports and labels, seeded.

Phantom images are clean by construction; a seeded fraction of them is degraded at "acquisition"
(random kind and severity) so that the benchmark has naturally low-quality images for AQAA to find,
as a real archive does. The applied degradation is kept in the record (`extra`) and in the dataset's
`degradation` / `severity` columns.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .record import StudyRecord, StudySource, derive_seed

PHANTOM_CITATION = """@software{lrrg_phantoms,
  title  = {LRRG phantom chest radiographs: procedural frontal chest X-rays with known findings},
  author = {{LRRG developers}},
  year   = {2025}
}"""


@dataclass(frozen=True)
class PhantomSpec:
    """Everything needed to make one phantom study; cheap to pickle to a worker."""

    index: int
    seed: int
    size: int
    bit_depth: int
    studies_per_subject: int
    degradation: str = "none"
    severity: int = 0
    degradation_seed: int = 0

    @property
    def cache_key(self) -> str:
        """Stable name of the made image and record in the build cache."""
        return (
            f"phantom-{self.seed}-{self.size}-{self.bit_depth}-{self.studies_per_subject}-{self.index}-"
            f"{self.degradation}-{self.severity}-{self.degradation_seed}"
        )


class PhantomSource(StudySource):
    """Procedural phantom studies (the embedded default data; freely redistributable).

    Args:
        num_studies: how many studies.
        seed: master seed; study `i` uses a seed derived from `(seed, i)`.
        size: image side in pixels.
        bit_depth: 8 or 16.
        lq_fraction: fraction of studies degraded at acquisition (natural low quality), in [0, 1].
        lq_kinds: degradation kinds drawn for those (default: every kind).
        lq_severities: severities drawn for those.
        studies_per_subject: consecutive studies sharing a subject id (exercises the subject-level split).
    """

    name = "phantom"
    redistributable = True
    license = "apache-2.0"
    citation = PHANTOM_CITATION
    access_note = "Phantom images are procedural (no patient data) and freely redistributable."
    worker_modules = ("lrrg.dataset_scripts.phantoms", "lrrg.dataset_scripts.degradations")

    def __init__(
        self,
        num_studies: int = 500,
        seed: int = 0,
        size: int = 256,
        bit_depth: int = 8,
        lq_fraction: float = 0.3,
        lq_kinds: Sequence[str] | None = None,
        lq_severities: Sequence[int] = (2, 3, 4, 5),
        studies_per_subject: int = 2,
    ) -> None:
        if num_studies < 1:
            raise ValueError(f"num_studies must be >= 1, got {num_studies}")
        if not 0.0 <= lq_fraction <= 1.0:
            raise ValueError(f"lq_fraction must be in [0, 1], got {lq_fraction}")
        if bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
        if studies_per_subject < 1:
            raise ValueError(f"studies_per_subject must be >= 1, got {studies_per_subject}")
        self.num_studies = int(num_studies)
        self.seed = int(seed)
        self.size = int(size)
        self.bit_depth = int(bit_depth)
        self.lq_fraction = float(lq_fraction)
        self.lq_kinds = tuple(lq_kinds) if lq_kinds is not None else None
        self.lq_severities = tuple(int(s) for s in lq_severities)
        self.studies_per_subject = int(studies_per_subject)
        self.skipped: dict[str, int] = {}

    def __len__(self) -> int:
        return self.num_studies

    def describe(self) -> str:
        return (
            f"{self.num_studies} phantom studies (seed {self.seed}, {self.size} px, {self.bit_depth}-bit, "
            f"{self.lq_fraction:.0%} degraded at acquisition)"
        )

    def _kinds(self) -> tuple[str, ...]:
        if self.lq_kinds is not None:
            return self.lq_kinds
        from ..degradations import DEGRADATION_KINDS

        return tuple(DEGRADATION_KINDS)

    def iter_specs(self) -> Iterator[PhantomSpec]:
        """One `PhantomSpec` per study (no image is made here)."""
        kinds = self._kinds() if self.lq_fraction > 0 else ()
        for index in range(self.num_studies):
            study_seed = derive_seed("phantom", self.seed, index)
            rng = random.Random(study_seed)
            degradation, severity, degradation_seed = "none", 0, 0
            if kinds and rng.random() < self.lq_fraction:
                degradation = rng.choice(kinds)
                severity = rng.choice(self.lq_severities)
                degradation_seed = derive_seed("acquisition", study_seed)
            yield PhantomSpec(
                index=index,
                seed=study_seed,
                size=self.size,
                bit_depth=self.bit_depth,
                studies_per_subject=self.studies_per_subject,
                degradation=degradation,
                severity=severity,
                degradation_seed=degradation_seed,
            )

    def load(self, spec: PhantomSpec) -> StudyRecord:
        """Makes the phantom (and its acquisition degradation) for one spec."""
        from ..phantoms import generate_phantom

        study = generate_phantom(spec.seed, size=spec.size, bit_depth=spec.bit_depth)
        image = study.image
        if spec.degradation != "none":
            from ..degradations import degrade

            image = degrade(image, spec.degradation, spec.severity, spec.degradation_seed)
        return StudyRecord(
            source=self.name,
            subject_id=f"phantom-subject-{spec.index // spec.studies_per_subject:06d}",
            study_id=f"phantom-study-{spec.index:06d}",
            image_id=f"phantom-image-{spec.index:06d}",
            image_path=None,
            view=study.view,
            findings=study.findings,
            impression=study.impression,
            labels=dict(study.labels),
            image=image,
            extra={"degradation": spec.degradation, "severity": spec.severity, "phantom_seed": spec.seed},
        )

    def iter_records(self) -> Iterator[StudyRecord]:
        """Yields the phantom studies (makes every image: use the builder for parallel runs)."""
        for spec in self.iter_specs():
            yield self.load(spec)


__all__ = ["PHANTOM_CITATION", "PhantomSource", "PhantomSpec"]
