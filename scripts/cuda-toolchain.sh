#!/usr/bin/env bash
# A CUDA 13.0 toolchain from PyPI, enough to build `--features cuda` (candle's kernels with nvcc,
# cudarc linked against the CUDA libraries) without root and without a system CUDA toolkit.
#
#   scripts/cuda-toolchain.sh          install (first run ~1 min, ~1.6 GB), then print the env
#   scripts/cuda-toolchain.sh --env    install if needed, print only `export …` lines:
#                                        eval "$(scripts/cuda-toolchain.sh --env)"
#   scripts/cuda-toolchain.sh --check  exit 0 when installed and complete, 1 otherwise
#
# Where: ${LR_CUDA_HOME:-$HOME/.cache/lr-toolkit/cuda-13.0}. Idempotent: a stamp file records the
# pinned set; a second run only prints. Nothing outside LR_CUDA_HOME is written.
#
# What it does (each step measured on a machine with no GPU and no system CUDA):
# - pip installs NVIDIA's CUDA 13 wheels, pinned by version and sha256 (--require-hashes), into a
#   venv (unzipping by hand drops nvcc's exec bit). The CUDA 12 wheels do not work: their
#   nvidia-cuda-nvcc-cu12 has ptxas but neither the nvcc driver nor cicc. The CUDA 13 wheels
#   together form one toolkit-shaped tree, site-packages/nvidia/cu13/{bin,include,lib,nvvm}:
#   that is CUDA_ROOT ($LR_CUDA_HOME/cuda links to it).
# - 13.0 and not newer: candle-core 0.11.1's cudarc 0.19.10 reads `nvcc --version` (feature
#   cuda-version-from-build-system) and accepts up to 13.4, and a driver runs PTX only from a
#   toolkit no newer than itself (the lent H200 machines' driver is CUDA 13.0).
# - the wheels ship only versioned libraries (libcudart.so.13 …): the linker needs libcudart.so,
#   libcublas.so, libcublasLt.so, libnvrtc.so, libcurand.so links next to them.
# - no wheel ships the driver (libcuda.so.1, installed with the NVIDIA driver on a GPU machine):
#   the link needs a stub libcuda.so (soname libcuda.so.1) defining every driver function cudarc
#   binds, generated here from the wheel's cuda.h into lib/stubs/ (only the linker looks there;
#   at run time the real driver is loaded). cudarc and cudaforge also look in lib64: a link to lib.
# - CUDA_COMPUTE_CAP (no nvidia-smi to ask): 80 unless set. candle's kernels are built as PTX for
#   compute_80, which the driver JIT-compiles for any newer GPU (Ampere, Hopper, Blackwell).
#   90 would mean sm_90a (cudaforge adds the `a`): Hopper only. The statically built MoE/GGUF
#   kernels (libmoe.a, quantized matmuls) get SASS for that one architecture only.
#
# The built binary needs, at run time (ldd), libcuda.so.1 (the driver) and libcudart.so.13,
# libcublas.so.13, libcublasLt.so.13, libcurand.so.10: the env printed here puts
# $CUDA_ROOT/lib on LD_LIBRARY_PATH (a PyTorch CUDA 13 venv's nvidia/cu13/lib serves as well).
set -euo pipefail

CUDA_VERSION=13.0
LR_CUDA_HOME="${LR_CUDA_HOME:-$HOME/.cache/lr-toolkit/cuda-$CUDA_VERSION}"

# name==version --hash=sha256:… (pip's requirements format; manylinux x86_64 wheels).
PINS='nvidia-cuda-nvcc==13.0.88 --hash=sha256:56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03
nvidia-cuda-crt==13.0.88 --hash=sha256:2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4
nvidia-nvvm==13.0.88 --hash=sha256:c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0
nvidia-cuda-runtime==13.0.96 --hash=sha256:7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548
nvidia-cuda-nvrtc==13.0.88 --hash=sha256:ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575
nvidia-cuda-cccl==13.0.85 --hash=sha256:e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649
nvidia-cublas==13.0.2.14 --hash=sha256:0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c
nvidia-curand==10.4.0.35 --hash=sha256:1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc'
# Unversioned links the linker needs: name -> the versioned file the wheels ship.
LINKS='libcudart.so libcudart.so.13
libcublas.so libcublas.so.13
libcublasLt.so libcublasLt.so.13
libnvrtc.so libnvrtc.so.13
libcurand.so libcurand.so.10'
# Bump when the layout steps below change: an older install is then redone.
LAYOUT=1

mode=install
case "${1:-}" in
  "") ;;
  --env) mode="env" ;;
  --check) mode=check ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "cuda-toolchain: unknown option $1 (--env, --check, --help)" >&2; exit 2 ;;
esac
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || {
  echo "cuda-toolchain: the pinned wheels are for Linux x86_64; elsewhere install NVIDIA's CUDA toolkit" >&2
  exit 1
}

VENV="$LR_CUDA_HOME/venv"
CUDA_ROOT="$LR_CUDA_HOME/cuda"
STAMP="$LR_CUDA_HOME/.installed"
stamp_text="$(printf 'layout %s\n%s\n' "$LAYOUT" "$PINS")"
log() { echo "cuda-toolchain: $*" >&2; }

installed() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp_text" ] && [ -x "$CUDA_ROOT/bin/nvcc" ] \
    && [ -f "$CUDA_ROOT/lib/stubs/libcuda.so" ]
}

# The driver stub: every cu* function cuda.h declares (after its #define renames, e.g.
# cuCtxDestroy -> cuCtxDestroy_v2, and before them), plus cudaProfiler.h's three (not in the
# wheels; cudarc binds them). An extra symbol is harmless; a missing one fails the link.
make_driver_stub() {
  local inc="$CUDA_ROOT/include" dir="$CUDA_ROOT/lib/stubs" tmp
  tmp="$(mktemp -d "$LR_CUDA_HOME/.stub.XXXXXX")"
  {
    "${CC:-cc}" -E -P -I "$inc" "$inc/cuda.h" | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' || true
    grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' "$inc/cuda.h" || true
    grep -E '^#define[[:space:]]+cu[A-Z]' "$inc/cuda.h" | awk '{print $2; print $3}'
    printf '%s\n' cuProfilerInitialize cuProfilerStart cuProfilerStop
  } | sed 's/[[:space:](]//g' | grep -E '^cu[A-Z][A-Za-z0-9_]*$' | sort -u \
    | awk '{print "int " $1 "(void) { return 999; }"}' > "$tmp/libcuda_stub.c"
  local n
  n="$(wc -l < "$tmp/libcuda_stub.c")"
  [ "$n" -gt 400 ] || { log "only $n driver functions found in $inc/cuda.h"; exit 1; }
  "${CC:-cc}" -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$tmp/libcuda.so" "$tmp/libcuda_stub.c"
  mkdir -p "$dir"
  mv "$tmp/libcuda.so" "$dir/libcuda.so"
  ln -sfn libcuda.so "$dir/libcuda.so.1"
  rm -rf "$tmp"
  log "driver stub with $n functions: $dir/libcuda.so (link time only)"
}

install() {
  command -v python3 >/dev/null || { log "needs python3 (with venv and pip)"; exit 1; }
  command -v "${CC:-cc}" >/dev/null || { log "needs a C compiler (cc; also nvcc's host compiler)"; exit 1; }
  log "installing CUDA $CUDA_VERSION wheels (PyPI, ~700 MB download) into $LR_CUDA_HOME"
  rm -rf "$LR_CUDA_HOME"
  mkdir -p "$LR_CUDA_HOME"
  python3 -m venv "$VENV"
  printf '%s\n' "$PINS" > "$LR_CUDA_HOME/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --require-hashes --no-deps --only-binary=:all: -r "$LR_CUDA_HOME/requirements.txt"
  local root
  root="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia/cu13"
  [ -x "$root/bin/nvcc" ] || { log "no nvcc in $root/bin after the install"; exit 1; }
  ln -sfn "$root" "$CUDA_ROOT"
  local name target
  while read -r name target; do
    [ -e "$CUDA_ROOT/lib/$target" ] || { log "missing $CUDA_ROOT/lib/$target"; exit 1; }
    ln -sfn "$target" "$CUDA_ROOT/lib/$name"
  done <<< "$LINKS"
  [ -e "$CUDA_ROOT/lib64" ] || ln -s lib "$CUDA_ROOT/lib64"
  make_driver_stub
  "$CUDA_ROOT/bin/nvcc" --version | tail -n 2 >&2
  printf '%s\n' "$stamp_text" > "$STAMP"
  log "done ($(du -sh "$LR_CUDA_HOME" | cut -f1))"
}

print_env() {
  local cap="${CUDA_COMPUTE_CAP:-80}"
  cat <<EOF
export CUDA_ROOT='$CUDA_ROOT'
export CUDA_HOME='$CUDA_ROOT'
export PATH='$CUDA_ROOT/bin':"\$PATH"
export LD_LIBRARY_PATH='$CUDA_ROOT/lib'"\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export CUDA_COMPUTE_CAP='$cap'
export CUDAFORGE_THREADS="\${CUDAFORGE_THREADS:-\$(nproc)}"
EOF
}

case "$mode" in
  check) installed; exit ;;
  env) installed || install >&2; print_env ;;
  install)
    if installed; then log "CUDA $CUDA_VERSION already installed in $LR_CUDA_HOME"; else install; fi
    echo "# environment for cargo build --features cuda (or: eval \"\$($0 --env)\"):"
    print_env
    ;;
esac
