"""Probe: run the IFNet's first block (and its cost volume) on a coarser grid at inference: flow_scales (4,2,1) -> (S0,2,1)."""
import sys, torch
from vfi_lib.checkpoint import load_model
from vfi_lib.eval.benchmarks import run_benchmark
torch.set_grad_enabled(False)
m = load_model('.devdata/ckpt/scratch_ft_s4e48.pt').eval()
bench, path, gap, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for sc in sys.argv[5:]:
    m.flow.scales = tuple(float(x) for x in sc.split(","))
    kw = dict(gap=gap) if bench == "clips" else {}
    r = run_benchmark(m, bench, path, limit=limit or None, model_name="wide" + sc.replace(",", "-"), out_dir="/tmp/qt_wide", progress=False, **kw)
    print(bench, path, gap, sc, round(r["psnr"], 3), r["n"], flush=True)
