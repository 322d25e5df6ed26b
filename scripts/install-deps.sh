#!/usr/bin/env bash
# Installs every Debian 12 package omnitune needs to build, test and run on CPU (DESIGN.md §3).
# Idempotent: packages already present are skipped; apt-get runs only when something is missing.
# Run as root (or with sudo available). Prints what it did.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config ccache git ca-certificates
  # LibTorch (CPU) and the BLAS it must use: without OpenBLAS, Debian's LibTorch falls back to the
  # reference BLAS and fp32 matmul runs ~40x slower (DESIGN.md §7).
  libtorch-dev libopenblas0-pthread
  # MPI and parallel HDF5
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
  # config, JSON, tokenizer
  libyaml-cpp-dev nlohmann-json3-dev libsentencepiece-dev sentencepiece
  # media: JPEG, PNG, audio, resampling, FFT; espeak-ng speaks the sample set's questions
  # (omnitune-make-sample --spoken 1)
  libturbojpeg0-dev libspng-dev libdeflate-dev libsndfile1-dev libsamplerate0-dev libfftw3-dev espeak-ng
  # Parquet page codecs
  libsnappy-dev libzstd-dev zlib1g-dev
  # SHA-256 of shards and checkpoints (libcrypto)
  libssl-dev
  # tests: GoogleTest, clang for libFuzzer, Pillow and numpy for the image and audio references
  libgtest-dev clang python3-pil python3-numpy python3-matplotlib
  # bench: the Python baseline of bench/preprocess (Pillow + h5py)
  python3-h5py
  # tests: shellcheck over the cluster scripts (scripts/slurm, tests/slurm, containers)
  shellcheck
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: run as root (or install sudo): apt-get needs it" >&2; exit 1
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}"
  echo "install-deps: done"
fi

# The OpenBLAS alternative must be the one libblas.so.3 resolves to (the package sets it up;
# this check catches a system where an admin pinned the reference BLAS).
# Node.js + npm generate Parquet test files with DuckDB from the npm registry (tests only). Machines
# of this project ship Node 20; a bare Debian gets its own nodejs and npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing nodejs and npm (Parquet test data)"
  $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends nodejs npm
fi

blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
case "$blas" in
  *openblas*) echo "install-deps: libblas.so.3 -> $blas (OpenBLAS, good)" ;;
  *) echo "install-deps: WARNING: libblas.so.3 -> ${blas:-missing}, not OpenBLAS: LibTorch fp32 matmul will be very slow." \
          "Fix: update-alternatives --config libblas.so.3-x86_64-linux-gnu" >&2 ;;
esac
