#!/usr/bin/env bash
# The standing GPU checklist (DEVELOPERS.md) in one command, for the device machine's time budget: every step has its
# own time limit, one failing or hanging step does not stop the others, and everything lands under OUT.
#
#   Here:   npm install && node scripts/build-native.mjs --force   (the shipped archs include sm_90)
#           bash scripts/gpu-bundle-slim.sh          (the shared gpu-bundle.sh's .gpu + build/ is ~99 MiB: too big)
#   Device: source .gpu/setup.sh && bash scripts/gpu-checklist.sh "$OUT" [steps...]  (carry [".gpu", "build/Release"])
#
# Steps (default: all, in this order; name some to run only those):
#   info       nvidia-smi, addon build info and cudaDevices()                      → info.txt
#   ops        npm run test:gpu on the per-op files                                 → test-gpu-ops.log
#   model      npm run test:gpu on test/gpu/model.test.ts (whole model vs CPU)     → test-gpu-model.log
#   sanitize   compute-sanitizer memcheck over the per-op files                     → sanitize-memcheck.log
#   racecheck  compute-sanitizer racecheck over attention / GDN / sample           → sanitize-racecheck.log
#   bench      bench/gpu/{reference,matmul,gdn}.bench.ts (or one: bench-reference, bench-matmul, bench-gdn)
#                                                                                   → bench-*.log + results/*.json
#   e2e        bench/gpu/e2e.bench.ts (writes two real-shape GGUFs, 39 GB of disk) → bench-e2e.log + results/*.json
# Exit status: the number of failed steps (0 = all passed). A summary line per step goes to OUT/summary.txt.
# The device tool allows 600 s per command and 1800 s per session: each step is capped at 540 s, so run one or two
# steps per device call, most important first: `info ops`, `model`, `bench`, `sanitize`, `racecheck`, `e2e`.
set -uo pipefail

out=${1:?usage: scripts/gpu-checklist.sh OUT_DIR [steps...]}
shift
mkdir -p "$out/results"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(info ops model sanitize racecheck bench e2e)
ops_files=$(ls test/gpu/ops-*.test.ts test/gpu/sample.test.ts test/gpu/matmul.test.ts test/gpu/cuda-backend.test.ts test/gpu/require-gpu.test.ts 2>/dev/null | tr '\n' ' ')
failed=0

# run NAME LIMIT_SECONDS LOGFILE COMMAND...: one step, its log, its wall time and status in the summary.
run() {
  local name=$1 limit=$2 log=$3
  shift 3
  local t0=$SECONDS
  timeout --kill-after=20 "$limit" "$@" > "$out/$log" 2>&1
  local rc=$?
  local verdict=ok
  [[ $rc -eq 0 ]] || { verdict="FAILED (exit $rc$([[ $rc -eq 124 || $rc -eq 137 ]] && echo ', time limit'))"; failed=$((failed + 1)); }
  printf '%-10s %-40s %5ds  %s\n' "$name" "$log" $((SECONDS - t0)) "$verdict" | tee -a "$out/summary.txt"
}

for step in "${steps[@]}"; do
  case $step in
    info)
      run info 60 info.txt bash -c 'nvidia-smi; node -e "const a = require(\"./build/Release/qwen_hybrid.node\"); console.log(JSON.stringify({ build: a.buildInfo(), devices: a.cudaDevices() }, null, 2))"' ;;
    ops)
      # shellcheck disable=SC2086
      run ops 540 test-gpu-ops.log npx vitest run --config vitest.gpu.config.ts $ops_files ;;
    model)
      run model 540 test-gpu-model.log npx vitest run --config vitest.gpu.config.ts test/gpu/model.test.ts ;;
    sanitize)
      # shellcheck disable=SC2086
      run sanitize 540 sanitize-memcheck.log node scripts/test-gpu-sanitize.mjs --tool memcheck $ops_files ;;
    racecheck)
      run racecheck 540 sanitize-racecheck.log node scripts/test-gpu-sanitize.mjs --tool racecheck test/gpu/ops-attention.test.ts test/gpu/ops-gdn.test.ts test/gpu/sample.test.ts ;;
    bench | bench-reference | bench-matmul | bench-gdn)
      [[ $step == bench ]] && benches=(reference matmul gdn) || benches=("${step#bench-}")
      for b in "${benches[@]}"; do
        run "bench-$b" 540 "bench-$b.log" node --import tsx "bench/gpu/$b.bench.ts"
      done ;;
    e2e)
      run e2e 540 bench-e2e.log node --import tsx bench/gpu/e2e.bench.ts ;;
    *)
      echo "gpu-checklist: unknown step '$step'" | tee -a "$out/summary.txt"
      failed=$((failed + 1)) ;;
  esac
  # Results written so far (bench JSON reports), so a later time-out still leaves them under OUT.
  cp -f bench/results/*cuda*.json "$out/results/" 2>/dev/null || true
done

echo "gpu-checklist: $failed step(s) failed; summary in $out/summary.txt"
exit "$failed"
