"""Tool qualification: is the harness itself fit to certify a part with this profile?

In the manner of ISO 26262-8 clause 11 (confidence in the use of software tools), a lab
qualifies the harness for one profile by showing that it gives the right answer on parts
whose answer is known: the built-in reference simulator (a good part) must pass every run,
with the same verdicts every time, and every faulty variant of it (each breaks exactly one
requirement, see :mod:`harness.sim.variants`) must fail, on the cases that trace that
requirement and on no others.

The package, by concept: :mod:`~harness.qualify.model` (the runs, and the rule that judges
one variant's run, shared by the command and the certification tests),
:mod:`~harness.qualify.criteria` and :mod:`~harness.qualify.assess` (pure: the criteria, the
variant-by-case matrix, the report's JSON form), :mod:`~harness.qualify.runs` (carrying the
runs out: process pool, real time, evidence, interruption) and :mod:`~harness.qualify.cli`
(``harness qualify``). The HTML page is :mod:`harness.report.qualify_html`.

The criteria, each with a verdict and an explanation:

1. ``reference-passes``: every reference run (simulated and real time) completed and passed
   every mandatory case.
2. ``no-flaky-verdicts``: every case and every check has the same verdict in all reference
   runs, simulated and real time alike.
3. ``simulated-deterministic``: the simulated reference runs' case records (verdicts,
   measurements, limits, offenders, markers) are identical.
4. ``variants-caught``: every variant whose requirement a case of the profile traces is
   caught: at least one case tracing its requirement FAILs. A qualification in which no
   variant is in scope fails this criterion: it shows nothing about failing a part.
5. ``no-spurious-failures``: no variant run fails a case that does not trace the variant's
   requirement, nor (stricter, per check) a check that does not trace it; no case of a
   variant run ends in ERROR or INCONCLUSIVE; every variant run completed.

A variant whose requirement no case traces is *out of scope*: listed, not a failure (but a
case it fails is still a spurious failure). A requirement the profile traces for which no
variant exists is listed as *requirement without a faulty variant*: informational, because
the registry of variants, not the profile, is what falls short there.
"""

from harness.qualify.assess import Qualification, assess, machine_description
from harness.qualify.criteria import Criterion
from harness.qualify.model import (
    QUALIFICATION_FORMAT,
    QualificationRun,
    RunSpec,
    VariantOutcome,
    VariantVerdict,
    assess_variant,
    traced_requirements,
)

__all__ = [
    "QUALIFICATION_FORMAT",
    "Criterion",
    "Qualification",
    "QualificationRun",
    "RunSpec",
    "VariantOutcome",
    "VariantVerdict",
    "assess",
    "assess_variant",
    "machine_description",
    "traced_requirements",
]
