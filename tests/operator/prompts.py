"""A copy of the reference profile with an operator case (three prompts) before the UDS cases."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import profile_copy

CASE = "TC-OPERATOR"
KEYS = (f"{CASE}/plug", f"{CASE}/lamp", f"{CASE}/supply")


def operator_profile(
    tmp_path: Path, timeout: str = "60 s", image: bool = False, supply_timeout: str = ""
) -> Path:
    anchor = "  - id: TC-UDS-001-SESSION\n"
    picture = ", image: ../lamp.png" if image else ""
    case = f"""  - id: {CASE}
    title: The operator plugs the part in, checks its MIL lamp and measures its supply
    requirements: [CAN-005]
    steps:
      - prompt:
          {{id: plug, text: "Plug the part into harness B", answer: confirm, timeout: {timeout}}}
      - prompt:
          {{id: lamp, text: "Is the MIL lamp off?", answer: judge, timeout: {timeout}{picture}}}
      - prompt:
          id: supply
          text: Measure the supply voltage at pin 1
          answer: value
          unit: V
          min: 11.5
          max: 14.5
          timeout: {supply_timeout or timeout}
      - observe: 500 ms
        checks:
          - {{kind: allowed_ids, ids: [0x3A0, 0x3B0, 0x7E8]}}

"""
    if image:  # a small PNG the dashboard shows beside the instruction
        import base64

        (tmp_path / "lamp.png").write_bytes(
            base64.b64decode(
                "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAF0lEQVR4nGP8z4APMOGVZRiVHpWm"
                "ojQAPeMBH1w5pVMAAAAASUVORK5CYII="
            )
        )
    return profile_copy(tmp_path, anchor, case + anchor)


def answers_file(path: Path, **answers: object) -> Path:
    lines = ["operator: ci-bot", "answers:"]
    lines += [f"  {CASE}/{k}: {v}" for k, v in answers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
