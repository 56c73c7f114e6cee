#!/usr/bin/env bash
# Everything the book measures or trains on a GPU, in one run of named steps (all by default):
#   tests    the tests that need CUDA (CPU vs GPU agreement), log in OUT/cuda_tests.log;
#   bench    the GPU benchmarks, recorded for the performance appendix (book/benchmarks/*-gpu.txt, values
#            in lecturelib/results/benchmarks/*-gpu.json),
#            packed into OUT/tables.tgz (about 5 minutes on an H200);
#   beta_vae chapter 07's β-VAE sweep at the default scale, written to the shipped results
#            (lecturelib/results/, with provenance), packed into OUT/results.tgz (about 4 minutes);
#   beta_vae_paper  chapter 07's long sweep (50,000 steps per β, ~8 minutes each on an H200) for at
#            most $BETA_VAE_SECONDS (default 540), largest β first; each finished model is stored, so
#            sessions add to each other; packed into OUT/results.tgz;
#   study    chapter 09's default-scale records, resumable, for at most $STUDY_SECONDS (default
#            420) seconds, packed into OUT/study.tgz (finished records are never rewritten, so
#            each session's slice adds to the last).
#   agreement  chapter 08's fast-vs-reference scores of the study's kept encoders, on the machine's
#            spare CPU cores (6 worker processes) in the background while the other steps use the
#            GPU; starts no model after $AGREEMENT_SECONDS (default 300); packed into OUT/agreement.tgz.
#            Pair it with study or beta_vae*, not bench: launch-bound GPU timings need free cores.
# Usage, from the repository root on a CUDA machine with the requirements installed:
#   bash scripts/gpu_checks.sh OUT [tests] [bench] [beta_vae] [beta_vae_paper] [study] [agreement]
# Unpack the archives at the repository root and commit what they bring.
set -u
OUT=${1:-_build/gpu}
shift || true
STEPS=${*:-tests bench beta_vae study}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg LECTURELIB_THREADS=${LECTURELIB_THREADS:-8}
PY=${PYTHON:-python3}
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))" \
  | tee "$OUT/device.txt" || exit 1
has() { [[ " $STEPS " == *" $1 "* ]]; }

if has agreement; then  # CPU work (scikit-learn): overlaps the GPU steps below
  AGREEMENT_SECONDS=${AGREEMENT_SECONDS:-300}
  timeout $((AGREEMENT_SECONDS + 300)) $PY -m lecturelib.study agreement --out lecturelib/results/study_default \
    --workers 6 --seconds "$AGREEMENT_SECONDS" > "$OUT/agreement.log" 2>&1 &
  AGREEMENT_PID=$!
fi

if has tests; then
  timeout 60 $PY -m pytest -q -p no:cacheprovider tests/test_dsprites.py tests/test_sparse_coding.py \
    tests/test_metrics.py -k "cuda or gpu" 2>&1 | tail -15 | tee "$OUT/cuda_tests.log"
fi

if has bench; then  # each capped so one failure leaves time for the rest
  record() { local limit=$1 name=$2; shift 2; timeout "$limit" $PY scripts/bench_page.py record "$name" -- "$@" 2>&1 | tail -40; }
  record 45 dsprites-gpu $PY benchmarks/dsprites.py
  record 80 vae_training-gpu $PY benchmarks/vae_training.py --device cuda --batch-size 64 1024 --repeats 1
  record 90 study-gpu $PY benchmarks/study.py --full --check --device cuda
  record 60 sparse_coding-gpu $PY benchmarks/sparse_coding.py --skip-dl --full
  record 150 metrics-gpu $PY benchmarks/metrics.py --skip-agreement --device cuda
  tar czf "$OUT/tables.tgz" book/benchmarks lecturelib/results/benchmarks book/performance.md 2>/dev/null
fi

if has beta_vae; then  # eager bf16 + channels-last: no compile time per model
  LECTURELIB_COMPILE=0 timeout 250 $PY -m lecturelib.disentanglement --scale default --publish 2>&1 | tee "$OUT/beta_vae.log"
  tar czf "$OUT/results.tgz" lecturelib/results/*.pt lecturelib/results/*.json 2>/dev/null
fi

if has beta_vae_paper; then
  LECTURELIB_COMPILE=0 timeout "${BETA_VAE_SECONDS:-540}" $PY -m lecturelib.disentanglement --scale paper --publish \
    --betas 6 1 10 4 2 8 2>&1 | tee "$OUT/beta_vae_paper.log"
  tar czf "$OUT/results.tgz" lecturelib/results/*.pt lecturelib/results/*.json 2>/dev/null
fi

if has study; then
  LECTURELIB_COMPILE=0 timeout "${STUDY_SECONDS:-420}" $PY -m lecturelib.study run --scale default \
    --out lecturelib/results/study_default --group-size 9 --workers 1 2>&1 | tail -20 | tee "$OUT/study.log"
  tar czf "$OUT/study.tgz" lecturelib/results/study_default 2>/dev/null
fi

if has agreement; then
  wait "$AGREEMENT_PID"
  tail -20 "$OUT/agreement.log"
  tar czf "$OUT/agreement.tgz" lecturelib/results/study_default/agreement 2>/dev/null
fi
