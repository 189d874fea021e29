"""The HTML report's style sheet: one inline block, so a report is a single file that opens
anywhere (no fetch, no script).
"""

__all__ = ["CSS"]

CSS = """
:root{--pass:#1b5e20;--pass-bg:#e8f5e9;--fail:#b71c1c;--fail-bg:#ffebee;--err:#6a1b9a;
--err-bg:#f3e5f5;--inc:#8d6e00;--inc-bg:#fff8e1;--skip:#555;--skip-bg:#eeeeee;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1120px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:24px;margin:0}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid
var(--line);padding-bottom:4px}h3{font-size:16px;margin:0 0 6px}h4{font-size:14px;margin:0 0 4px}
a{color:#0550ae}code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
table{border-collapse:collapse;margin:6px 0 10px}th,td{border:1px solid var(--line);
padding:3px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa;font-weight:600}
table.kv th{width:190px}
.banner{padding:14px 18px;border-radius:6px;margin:8px 0 12px;border:2px solid}
.banner.PASS{background:var(--pass-bg);border-color:var(--pass);color:var(--pass)}
.banner.FAIL{background:var(--fail-bg);border-color:var(--fail);color:var(--fail)}
.banner.ERROR,.banner.INCOMPLETE{background:var(--err-bg);border-color:var(--err);color:var(--err)}
.banner p{margin:4px 0 0;color:#1f2328}
.alert{background:var(--fail-bg);border:1px solid var(--fail);border-left:6px solid var(--fail);
padding:8px 14px;border-radius:4px;margin:8px 0}
.alert.note{background:var(--inc-bg);border-color:var(--inc)}
.alert ul{margin:4px 0;padding-left:20px}
.glance{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:8px;margin-top:6px}
.glance figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:4px;padding:4px}
.glance svg.plot{width:100%;height:auto;border:0}.glance figcaption{font-size:12px;padding:0 4px}
.badge{display:inline-block;min-width:54px;text-align:center;font-weight:700;font-size:12px;
padding:1px 6px;border-radius:10px;border:1px solid}
.badge.PASS{color:var(--pass);background:var(--pass-bg);border-color:var(--pass)}
.badge.FAIL{color:#fff;background:var(--fail);border-color:var(--fail)}
.badge.ERROR{color:#fff;background:var(--err);border-color:var(--err)}
.badge.INCONCLUSIVE{color:var(--inc);background:var(--inc-bg);border-color:var(--inc)}
.badge.SKIPPED{color:var(--skip);background:var(--skip-bg);border-color:var(--skip)}
.badge.NOT_APPLICABLE{color:#006064;background:#e0f7fa;border-color:#006064}
tr.FAIL td,tr.ERROR td,tr.bad td{background:var(--fail-bg)}
tr.INCONCLUSIVE td{background:var(--inc-bg)}
.case{border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:14px 0}
.case.FAIL,.case.ERROR{border-left:6px solid var(--fail)}
.case.PASS{border-left:6px solid var(--pass)}
.case.INCONCLUSIVE{border-left:6px solid var(--inc)}
.meta{color:#57606a;margin:2px 0 8px}
.check{border-top:1px dashed var(--line);padding:10px 0 4px}
.check.FAIL h4,.check.ERROR h4{color:var(--fail)}
.summary{margin:2px 0 6px}.offender{margin:4px 0;padding:4px 8px;background:var(--fail-bg);
border-radius:4px}
.plots{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
svg.plot{background:#fff;border:1px solid var(--line);border-radius:4px;max-width:100%;height:auto}
svg .grid{stroke:#eef0f2}svg .frame{fill:none;stroke:#8c959f}
svg .tick,svg .note{font-size:11px;fill:#57606a}svg .axis{font-size:12px;fill:#1f2328}
svg .title{font-size:13px;font-weight:600;fill:#1f2328}
svg .band{fill:#2e7d32;fill-opacity:.16;stroke:none}
svg .limit{stroke:#c62828;stroke-width:1.5;stroke-dasharray:6 4}
svg .marker{stroke:#6a1b9a;stroke-width:1.2;stroke-dasharray:3 3}
svg .line{fill:none;stroke:#0550ae;stroke-width:1.6}svg .thin{fill:none;stroke:#afb8c1}
svg circle.ok,svg rect.ok{fill:#0550ae}svg circle.bad,svg rect.bad{fill:#d32f2f}
svg path.dots{fill:none;stroke-width:5;stroke-linecap:round}
svg path.ok{stroke:#0550ae}svg path.bad{stroke:#d32f2f}svg .bad-text{fill:#d32f2f;font-size:12px}
svg .swatch{stroke:none}
footer{color:#57606a;font-size:12px;margin-top:30px;border-top:1px solid var(--line);
padding-top:8px}
@media print{body{background:#fff}main{max-width:none}.case{break-inside:avoid}}
"""
