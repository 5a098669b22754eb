"""Prompt and generation tokens/s of the installed llama-cpp-python build (portable vs native, same model).

Run it with the interpreter whose build you want to measure, e.g.
    .venv/bin/python benchmarks/llama_build_speed.py --model data/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
    /tmp/native-venv/bin/python benchmarks/llama_build_speed.py --model ...   (a venv with a native build)
It loads the GGUF in-process (no server), evaluates a ~400-token report prompt from scratch `--reps` times, then
generates `--gen` tokens greedily, and prints one JSON line with the medians and the build's CPU features.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

PROMPT = (Path(__file__).resolve().parent.parent / "examples" / "reports" / "01_panel_findings.txt").read_text(
    encoding="utf-8"
)[:1200]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--gen", type=int, default=48)
    ap.add_argument("--label", default="")
    args = ap.parse_args()

    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(args.model),
        n_ctx=2048,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_batch=512,
        n_ubatch=512,
        seed=7,
        verbose=False,
    )
    tokens = llm.tokenize(PROMPT.encode("utf-8"))
    prompt_rates, gen_rates = [], []
    for _ in range(args.reps):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        prompt_rates.append(len(tokens) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(args.gen):
            tok = llm.sample(temp=0.0)
            llm.eval([tok])
        gen_rates.append(args.gen / (time.perf_counter() - t0))
    print(
        json.dumps(
            {
                "label": args.label,
                "llama_cpp_python": llama_cpp.__version__,
                "features": llama_cpp.llama_print_system_info().decode().strip(),
                "cpu": platform.processor() or platform.machine(),
                "python": sys.executable,
                "threads": args.threads,
                "prompt_tokens": len(tokens),
                "prompt_tok_s": round(statistics.median(prompt_rates), 1),
                "gen_tok_s": round(statistics.median(gen_rates), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
