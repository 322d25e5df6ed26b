#!/usr/bin/env bash
# The build steps of omnitune's container images, kept out of the Dockerfiles so that CI, which
# has no Docker engine, runs them on the host (`check`) and the images build with the same code.
#
#   containers/build-steps.sh STEP FLAVOUR
#     FLAVOUR  cuda: an NGC PyTorch image (Ubuntu; CUDA LibTorch, NCCL and HPC-X Open MPI inside)
#              cpu:  Debian 12 (Debian's LibTorch and Open MPI), for preprocessing nodes
#     deps       apt-get install the -dev packages the flavour lacks (deps FLAVOUR --check: only
#                verify they are installed)
#     configure  cmake with the flavour's preset (cuda: CMAKE_PREFIX_PATH from the image's torch)
#     build      cmake --build
#     install    binaries, the tokenizer shim and configs/ into $PREFIX
#   containers/build-steps.sh check
#     on the host, cheaply: the cpu package list is installed, both presets configure (cuda with
#     the host's CUDA toolkit/NCCL and Debian's LibTorch standing in for the image's), the install
#     step lays out a working tree from an existing build ($OMNITUNE_CHECK_BUILD_DIR), and every
#     step the Dockerfiles call exists.
#
# Environment: OMNITUNE_SRC [the repository holding this script], OMNITUNE_BUILD_DIR
# [$OMNITUNE_SRC/build/<flavour>], PREFIX [/opt/omnitune], OMNITUNE_JOBS [nproc],
# TORCH_CMAKE_PREFIX_PATH [from `python -c 'import torch; print(torch.utils.cmake_prefix_path)'`],
# MPI_HOME [/usr/local/mpi in NGC images, when it exists].
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${OMNITUNE_SRC:-$(cd "$here/.." && pwd)}
steps=(deps configure build install check)
log() { printf '[build-steps] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Packages per flavour. cpu = scripts/install-deps.sh's build set (Debian 12). cuda = the same
# libraries on the NGC image's Ubuntu, minus what the image already has (LibTorch, CUDA, NCCL,
# Open MPI from HPC-X: Ubuntu's Open MPI would shadow it) and with serial HDF5 (shards are
# written one file per rank; parallel HDF5 would pull in Ubuntu's MPI).
packages() {
  local common=(build-essential cmake pkg-config libyaml-cpp-dev nlohmann-json3-dev libsentencepiece-dev
                libturbojpeg0-dev libspng-dev libdeflate-dev libsndfile1-dev libsamplerate0-dev libfftw3-dev espeak-ng
                libsnappy-dev libzstd-dev zlib1g-dev libssl-dev)
  case $1 in
    cpu) printf '%s\n' "${common[@]}" libtorch-dev libopenblas0-pthread libopenmpi-dev openmpi-bin \
                       libhdf5-openmpi-dev ;;
    cuda) printf '%s\n' "${common[@]}" libhdf5-dev ;;
    *) die "unknown flavour '$1' (cuda or cpu)" ;;
  esac
}

missing_packages() {
  local p
  while read -r p; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s\n' "$p"
  done < <(packages "$1")
}

step_deps() {
  local flavour=$1 mode=${2:-install} missing
  mapfile -t missing < <(missing_packages "$flavour")
  if [ "${#missing[@]}" -eq 0 ]; then
    log "deps ($flavour): all $(packages "$flavour" | wc -l) packages installed"
    return 0
  fi
  [ "$mode" != --check ] || die "deps ($flavour): missing ${missing[*]} (scripts/install-deps.sh installs them on Debian 12)"
  log "deps ($flavour): installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -q
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}"
  rm -rf /var/lib/apt/lists/*
}

# The directory find_package(Torch) needs: the image's torch (python), else TORCH_CMAKE_PREFIX_PATH.
torch_prefix() {
  if [ -n "${TORCH_CMAKE_PREFIX_PATH:-}" ]; then printf '%s\n' "$TORCH_CMAKE_PREFIX_PATH"; return 0; fi
  local py
  for py in python python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import torch' 2>/dev/null; then
      "$py" -c 'import torch; print(torch.utils.cmake_prefix_path)'
      return 0
    fi
  done
  die "no torch: set TORCH_CMAKE_PREFIX_PATH (the directory holding Torch/TorchConfig.cmake) or run in an NGC PyTorch image"
}

build_dir() { printf '%s\n' "${OMNITUNE_BUILD_DIR:-$src/build/$1}"; }

# step_configure FLAVOUR [BUILD_DIR [extra cmake args...]]
step_configure() {
  local flavour=$1 dir=${2:-$(build_dir "$1")}
  shift $(($# < 2 ? $# : 2))
  local args=(-S "$src" -B "$dir" --preset "$flavour" -DOMNITUNE_BUILD_TESTS=OFF "$@")
  if [ "$flavour" = cuda ]; then
    local tp
    tp=$(torch_prefix)
    [ -f "$tp/Torch/TorchConfig.cmake" ] || die "$tp/Torch/TorchConfig.cmake not found (TORCH_CMAKE_PREFIX_PATH)"
    export TORCH_CMAKE_PREFIX_PATH=$tp  # the cuda preset reads it
    local mpi_home=${MPI_HOME:-/usr/local/mpi}
    if [ -x "$mpi_home/bin/mpicc" ]; then args+=(-DMPI_HOME="$mpi_home"); fi
    log "configure (cuda): torch from $tp"
  fi
  cmake "${args[@]}"
}

step_build() {
  cmake --build "$(build_dir "$1")" -j "${OMNITUNE_JOBS:-$(nproc)}"
}

# step_install BUILD_DIR PREFIX: <prefix>/bin (executables), <prefix>/lib (libomnitune_spm.so: the
# executables look in ../lib), <prefix>/configs (the recipes).
step_install() {
  local dir=$1 prefix=$2 f
  [ -d "$dir/bin" ] || die "$dir/bin does not exist: run the build step first"
  mkdir -p "$prefix/bin" "$prefix/lib" "$prefix/configs"
  for f in "$dir"/bin/omnitune-*; do install -m 755 "$f" "$prefix/bin/"; done
  install -m 755 "$dir/lib/libomnitune_spm.so" "$prefix/lib/"
  cp "$src"/configs/*.yaml "$prefix/configs/"
  log "installed $(find "$prefix/bin" -name 'omnitune-*' | wc -l) executables into $prefix"
}

step_check() {
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  # 1. Every step the Dockerfiles call exists here (with a known flavour).
  local df line step flavour calls
  for df in "$here"/Dockerfile "$here"/Dockerfile.cpu; do
    [ -f "$df" ] || die "check: $df is missing"
    calls=$(grep -c 'build-steps.sh [a-z]* [a-z]*' "$df" || true)
    [ "$calls" -ge 4 ] || die "check: $df calls build-steps.sh $calls times, expected deps, configure, build and install"
    while read -r line; do
      read -r step flavour <<<"${line#*build-steps.sh }"
      [[ " ${steps[*]} " == *" $step "* ]] || die "$df calls unknown step '$step'"
      packages "$flavour" >/dev/null
    done < <(grep -o 'build-steps.sh [a-z]* [a-z]*' "$df")
    log "check: $(basename "$df") calls known steps"
  done
  # 2. The cpu image's packages are the host's (Debian 12).
  step_deps cpu --check
  # 3. Both presets configure. The host has no python torch: Debian's LibTorch stands in.
  if [ -z "${TORCH_CMAKE_PREFIX_PATH:-}" ] && ! python3 -c 'import torch' 2>/dev/null; then
    local cfg
    cfg=$(dpkg -L libtorch-dev | grep '/Torch/TorchConfig.cmake$' | head -1)
    [ -n "$cfg" ] || die "check: libtorch-dev has no TorchConfig.cmake"
    TORCH_CMAKE_PREFIX_PATH=$(dirname "$(dirname "$cfg")")
  fi
  step_configure cuda "$tmp/cuda" >"$tmp/cuda.log" 2>&1 || { cat "$tmp/cuda.log" >&2; die "check: cuda configure failed"; }
  grep -q "NCCL backend: ON" "$tmp/cuda.log" || die "check: the cuda preset configured without NCCL"
  log "check: cuda preset configures ($(grep -o 'LibTorch [0-9.]*, NCCL backend: ON' "$tmp/cuda.log"))"
  step_configure cpu "$tmp/cpu" >"$tmp/cpu.log" 2>&1 || { cat "$tmp/cpu.log" >&2; die "check: cpu configure failed"; }
  log "check: cpu preset configures"
  # 4. The install step gives a relocatable tree whose executables resolve and run.
  local b=${OMNITUNE_CHECK_BUILD_DIR:-}
  if [ -z "$b" ] || [ ! -d "$b/bin" ]; then die "check: set OMNITUNE_CHECK_BUILD_DIR to a finished build (with bin/)"; fi
  step_install "$b" "$tmp/prefix"
  if ldd "$tmp/prefix"/bin/omnitune-* | grep -q 'not found'; then die "check: unresolved libraries in the installed tree"; fi
  "$tmp/prefix/bin/omnitune-generate" --help >/dev/null || die "check: installed omnitune-generate does not run"
  "$tmp/prefix/bin/omnitune-make-sample" --out "$tmp/sample" \
    --train 2 --validation 1 >/dev/null || die "check: installed omnitune-make-sample does not run"
  test -f "$tmp/prefix/configs/generate_medpix.yaml" || die "check: configs not installed"
  log "check: passed"
}

[ $# -ge 1 ] || die "usage: build-steps.sh deps|configure|build|install FLAVOUR, or build-steps.sh check"
case $1 in
  deps) step_deps "${2:?flavour}" "${3:-install}" ;;
  configure) packages "${2:?flavour}" >/dev/null; step_configure "$2" ;;
  build) step_build "${2:?flavour}" ;;
  install) step_install "$(build_dir "${2:?flavour}")" "${PREFIX:-/opt/omnitune}" ;;
  check) step_check ;;
  *) die "unknown step '$1' (one of: ${steps[*]})" ;;
esac
