// The live dashboard: the state so far, then every new event over Server-Sent Events.
const benches = {};
function esc(s){const d=document.createElement('div');d.textContent=String(s);return d.innerHTML;}
function benchDiv(name){
  let el=document.getElementById('bench-'+name);
  if(!el){el=document.createElement('section');el.className='bench';el.id='bench-'+name;
    document.getElementById('benches').appendChild(el);}
  return el;
}
function render(name){
  const b=benches[name]; const run=b.run; const el=benchDiv(name);
  const pct=run.total?Math.round(100*run.done/run.total):0;
  let h=`<h2>bench ${esc(name)}</h2><div class='meta'>run <span class='mono'>${esc(run.id)}</span>`+
    ` · ${esc(run.profile)} · operator ${esc(run.operator)} · <b class='run-status'>${esc(run.status)}</b></div>`+
    `<div class='progress'><div style='width:${pct}%'></div></div>`+
    `<p class='count'><span class='done'>${run.done}</span> of ${run.total} cases done`+
    (b.current?` · now: <b class='current'>${esc(b.current)}</b>`:'')+
    (b.step?` · step ${esc(b.step)}`:'')+`</p>`;
  for(const p of Object.values(b.prompts)){
    if(!p.answer){ h+=promptHtml(p); continue; }
    h+=`<p class='answered'>operator ${esc(p.answered_by)} answered ${esc(p.spec.key||p.id)}: `+
      `<b>${esc(p.answer.value)}</b></p>`;
  }
  // the header is redrawn; finished cases' sections (the report's, with plots) are only added
  if(!el.querySelector('.cases')){
    el.innerHTML="<div class='head'></div><div class='cases'></div>"; b.shown=0;
  }
  el.querySelector('.head').innerHTML=h;
  const cases=el.querySelector('.cases');
  for(; b.shown<b.cases.length; b.shown++) cases.insertAdjacentHTML('beforeend', b.cases[b.shown]);
}
function promptHtml(p){
  const s=p.spec; let ctl='';
  if(s.answer==='confirm') ctl=`<button onclick="answer('${p.id}','yes')">done</button>`;
  else if(s.answer==='judge') ctl=`<button onclick="answer('${p.id}','pass')">pass</button> <button onclick="answer('${p.id}','fail')">fail</button>`;
  else ctl=`<input id='val-${p.id}' type='number' step='any'> ${esc(s.unit||'')} <button onclick="answer('${p.id}',parseFloat(document.getElementById('val-${p.id}').value))">enter</button>`;
  const img=s.image_data?`<img src='${s.image_data}' style='max-width:320px;display:block'>`:'';
  return `<div class='prompt' id='prompt-${p.id}'><b>operator:</b> ${esc(s.text)}${img}<div>${ctl}</div></div>`;
}
async function answer(id,value){
  const r=await fetch('/api/live/prompts/'+id+'/answer',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({answer:value})});
  if(!r.ok){alert('not recorded: '+(await r.text()));}
}
function apply(ev){
  const d=ev.data;
  if(ev.kind==='run_started'){
    benches[d.bench]={run:d,cases:[],prompts:{},current:null,step:null,shown:0};
    const old=document.getElementById('bench-'+d.bench); if(old) old.innerHTML='';
    dirty.add(d.bench); return;
  }
  const name=Object.keys(benches).find(k=>benches[k].run.id===ev.run_id); if(!name) return;
  const b=benches[name];
  if(ev.kind==='case_started'){b.current=d.case_id; b.step=null;}
  else if(ev.kind==='step_started'){b.step=d.step;}
  else if(ev.kind==='case_finished'){b.run.done+=1; b.current=null; b.step=null; b.cases.push(d.html||`<p class='v-${esc(d.verdict)}'>${esc(d.case_id)} ${esc(d.verdict)}</p>`);}
  else if(ev.kind==='prompt'){b.prompts[d.id]={id:d.id,spec:d.spec,answer:null};}
  else if(ev.kind==='prompt_answered'){b.prompts[d.id]=d;}
  else if(ev.kind==='run_finished'){b.run.status=d.status+(d.passed?' (passed)':' (not passed)');}
  b.lastSeq=ev.seq; dirty.add(name);
  document.body.dataset.lastSeq=ev.seq;
}
// Events are applied to the state as they come and drawn once per frame: a burst of events
// costs one redraw, not one per event.
const dirty = new Set();
let frame = null; let drawn = [];
function schedule(){
  if(frame!==null) return;
  frame=requestAnimationFrame(()=>{
    frame=null;
    for(const name of dirty) render(name);
    dirty.clear();
    const now=Date.now()/1000;
    for(const sent of drawn) latencies.push(now-sent);  // event posted -> on the page
    drawn=[];
  });
}
// Subscribe first, then read the state so far: an event in between is neither lost nor
// applied twice (events carry their sequence number).
const latencies = [];  // seconds from the run posting an event to this page showing it
window.harnessLatencies = latencies;
function start(){
  const seen=new Set(); let buffered=[]; let ready=false;
  function take(ev){
    if(seen.has(ev.seq)) return; seen.add(ev.seq); apply(ev);
    if(ev.data && ev.data.sent) drawn.push(ev.data.sent);
    schedule();
  }
  const src=new EventSource('/api/live/stream');
  src.onmessage=(m)=>{const ev=JSON.parse(m.data); if(ready) take(ev); else buffered.push(ev);};
  src.onopen=async ()=>{
    if(ready) return;
    const st=await (await fetch('/api/live/state')).json();
    for(const b of Object.values(st.benches)) for(const ev of b.events){ seen.add(ev.seq); apply(ev); }
    for(const p of st.prompts){
      for(const b of Object.values(benches)) if(b.run.id===p.run_id){b.prompts[p.id]=p; dirty.add(b.run.bench);}
    }
    ready=true; for(const ev of buffered) take(ev); buffered=[]; schedule();
    document.body.dataset.live='connected';
  };
}
start();
