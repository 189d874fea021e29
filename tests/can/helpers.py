"""DBCs written for the E2E tests, loaded the way the harness loads any DBC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.can.dbc import CanDatabase, load_dbc
from harness.can.e2e import E2E_SCHEMES, Protection, build_protection

HERE = Path(__file__).resolve().parent

# A body-bus and backbone excerpt of CC-GW-1 (shared/reference-gw.md, "Messages"), and
# messages laid out for every AUTOSAR header (Profiles 4 and 7 need 12 and 20 bytes).
GW_DBC = """VERSION ""
NS_ :
BS_:
BU_: GW VEHICLE
BO_ 528 BODY_VehInfo: 8 GW
 SG_ CRC : 0|8@1+ (1,0) [0|255] "" VEHICLE
 SG_ Counter : 8|4@1+ (1,0) [0|15] "" VEHICLE
 SG_ SpeedValid : 12|1@1+ (1,0) [0|1] "" VEHICLE
 SG_ Gear : 13|3@1+ (1,0) [0|7] "" VEHICLE
 SG_ VehicleSpeed : 16|16@1+ (0.1,0) [0|6553.5] "km/h" VEHICLE
BO_ 496 GW_Status: 8 GW
 SG_ CRC : 0|8@1+ (1,0) [0|255] "" VEHICLE
 SG_ Counter : 8|4@1+ (1,0) [0|15] "" VEHICLE
 SG_ ForwardedCount : 16|8@1+ (1,0) [0|255] "" VEHICLE
 SG_ DroppedCount : 24|8@1+ (1,0) [0|255] "" VEHICLE
 SG_ DiscardedCount : 32|8@1+ (1,0) [0|255] "" VEHICLE
 SG_ FaultPtTimeout : 40|1@1+ (1,0) [0|1] "" VEHICLE
 SG_ FaultPtInvalid : 41|1@1+ (1,0) [0|1] "" VEHICLE
BO_ 192 PT_Status: 32 VEHICLE
 SG_ CRC : 0|16@1+ (1,0) [0|65535] "" GW
 SG_ Counter : 16|8@1+ (1,0) [0|255] "" GW
 SG_ VehicleSpeed : 24|16@1+ (0.01,0) [0|655.35] "km/h" GW
 SG_ Gear : 40|3@1+ (1,0) [0|7] "" GW
 SG_ EngineState : 43|2@1+ (1,0) [0|3] "" GW
BO_ 1536 LONG_24: 24 GW
 SG_ Payload : 0|8@1+ (1,0) [0|255] "" VEHICLE
BO_ 1537 SHORT_8: 8 GW
 SG_ Payload : 0|8@1+ (1,0) [0|255] "" VEHICLE
VAL_ 528 Gear 0 "P" 1 "R" 2 "N" 3 "D" 7 "UNKNOWN" ;
VAL_ 192 Gear 0 "P" 1 "R" 2 "N" 3 "D" ;
VAL_ 192 EngineState 0 "OFF" 1 "CRANK" 2 "RUNNING" ;
"""

# Written the way an OEM's DBC is (Hyundai/Kia style names): a lane-keeping command with a
# byte-sum checksum in byte 6 and a 4-bit counter in the high nibble of byte 7, a cruise
# message with a 4-bit counter and a 4-bit nibble-sum checksum sharing byte 7, a steering
# status with an XOR checksum and a Motorola 4-bit counter, and a wheel-speed message with a
# bare 2-bit counter in the middle of a byte.
OEM_DBC = """VERSION ""
NS_ :
BS_:
BU_: VCU MDPS
BO_ 832 LKAS11: 8 VCU
 SG_ CF_Lkas_LdwsSysState : 0|4@1+ (1,0) [0|15] "" MDPS
 SG_ CF_Lkas_SysWarning : 4|4@1+ (1,0) [0|15] "" MDPS
 SG_ CR_Lkas_StrToqReq : 16|11@1+ (1,-1024) [-1024|1023] "" MDPS
 SG_ CF_Lkas_ActToi : 27|1@1+ (1,0) [0|1] "" MDPS
 SG_ CF_Lkas_Chksum : 48|8@1+ (1,0) [0|255] "" MDPS
 SG_ CF_Lkas_FcwOpt : 56|2@1+ (1,0) [0|3] "" MDPS
 SG_ CF_Lkas_MsgCount : 60|4@1+ (1,0) [0|15] "" MDPS
BO_ 1057 SCC12: 8 VCU
 SG_ CF_VSM_Prefill : 0|1@1+ (1,0) [0|1] "" MDPS
 SG_ aReqRaw : 8|11@1+ (0.01,-10.23) [-10.23|10.24] "m/s^2" MDPS
 SG_ aReqValue : 19|11@1+ (0.01,-10.23) [-10.23|10.24] "m/s^2" MDPS
 SG_ CR_VSM_Alive : 56|4@1+ (1,0) [0|15] "" MDPS
 SG_ CR_VSM_ChkSum : 60|4@1+ (1,0) [0|15] "" MDPS
BO_ 897 MDPS12: 8 MDPS
 SG_ CR_Mdps_StrColTq : 0|11@1+ (1,-1024) [-1024|1023] "" VCU
 SG_ CF_Mdps_MsgCount2 : 19|4@0+ (1,0) [0|15] "" VCU
 SG_ CF_Mdps_Chksum2 : 24|8@1+ (1,0) [0|255] "" VCU
 SG_ CR_Mdps_OutTq : 53|11@1+ (1,-1024) [-1024|1023] "" VCU
BO_ 902 WHL_SPD11: 8 VCU
 SG_ WHL_SPD_FL : 0|14@1+ (0.03125,0) [0|511.97] "km/h" MDPS
 SG_ WHL_SPD_AliveCounter : 14|2@1+ (1,0) [0|3] "" MDPS
 SG_ WHL_SPD_FR : 16|14@1+ (0.03125,0) [0|511.97] "km/h" MDPS
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 832 10;
BA_ "GenMsgCycleTime" BO_ 1057 20;
BA_ "GenMsgCycleTime" BO_ 897 10;
BA_ "GenMsgCycleTime" BO_ 902 20;
"""


def write_dbc(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text_dbc(folder: Path, name: str, text: str) -> CanDatabase:
    return load_dbc(write_dbc(folder, name, text))


def protection(db: CanDatabase, message: str, scheme: str, **params: Any) -> Protection:
    """Scheme ``scheme`` configured for ``message``, its parameters validated as a profile's."""
    cls = E2E_SCHEMES.get(scheme)
    return build_protection(
        scheme, cls.Params.model_validate({"scheme": scheme, **params}), db.message(message)
    )
