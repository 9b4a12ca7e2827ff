#!/usr/bin/env bash
# Builds ssljax's optional native CPU kernels: a convolution and its two gradients on
# oneDNN (ssljax/native/dnnl_conv.cc -> ssljax/native/libssljax_dnnl.so), XLA FFI handlers
# that ssljax/models/native.py loads. Needs a C++ compiler and oneDNN 2.x or 3.x with its
# headers, from the first of:
#   $ONEDNN_ROOT (include/dnnl.hpp, lib/libdnnl.so);
#   /usr (Debian/Ubuntu: libdnnl-dev, installed here when running as root with apt-get);
#   the Python environment's prefix (no root: pip install onednn-cpu-gomp onednn-devel-cpu-gomp).
# Without them nothing is built and ssljax keeps its XLA path: this script never fails.
# Usage: bash scripts/build_native.sh [python]   (python: the one whose jaxlib to build for)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 0
PY="${1:-.venv/bin/python}"
OUT=ssljax/native/libssljax_dnnl.so
SRC=ssljax/native/dnnl_conv.cc
say() { echo "ssljax native kernel: $*" >&2; }
if [ -z "${ONEDNN_ROOT:-}" ] && [ ! -f /usr/include/dnnl.hpp ] && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null; then
  say "installing oneDNN's headers (apt-get install libdnnl-dev)"
  apt-get install -y -q libdnnl-dev >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libdnnl-dev >/dev/null 2>&1; }
fi
ROOT=""
PREFIX="$("$PY" -c 'import sys; print(sys.prefix)' 2>/dev/null)" || PREFIX=""
for dir in "${ONEDNN_ROOT:-}" /usr "$PREFIX"; do
  if [ -n "$dir" ] && [ -f "$dir/include/dnnl.hpp" ]; then ROOT="$dir"; break; fi
done
INC="$("$PY" -c 'import jax; print(jax.ffi.include_dir())' 2>/dev/null)" || INC=""
if [ -n "$INC" ] && [ -f "$OUT" ] && [ "$OUT" -nt "$SRC" ] && [ "$OUT" -nt "$INC/xla/ffi/api/ffi.h" ]; then
  exit 0  # up to date
fi
CXX="${CXX:-g++}"
if [ -z "$INC" ] || ! command -v "$CXX" >/dev/null || [ -z "$ROOT" ]; then
  why="needs $CXX, oneDNN's headers (libdnnl-dev, or ONEDNN_ROOT) and jax in $PY"
  if [ -f "$OUT" ]; then
    say "not rebuilt ($why); $OUT may not match this jaxlib: delete it to use the XLA path"
  else
    say "not built ($why); convolutions keep the XLA path"
  fi
  exit 0
fi
LINK=(-ldnnl)
if [ "$ROOT" != /usr ]; then LINK=(-L"$ROOT/lib" "-Wl,-rpath,$ROOT/lib" -ldnnl); fi
if "$CXX" -O2 -std=c++17 -shared -fPIC -w -I"$ROOT/include" -I"$INC" "$SRC" -o "$OUT.tmp" \
    -fopenmp "${LINK[@]}"; then
  mv "$OUT.tmp" "$OUT"
  say "built $OUT against oneDNN in $ROOT"
else
  rm -f "$OUT.tmp"
  say "build failed; convolutions keep the XLA path"
fi
exit 0
