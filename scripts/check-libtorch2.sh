#!/usr/bin/env bash
# Builds omnitune against LibTorch 2.x and runs the whole test suite there (CI runs it after
# test.sh, which covers Debian 12's LibTorch 1.13). LibTorch 2.6 comes from Debian 13 (trixie): the
# script keeps a trixie root folder outside the clone, bind-mounts this source tree into it
# read-only, and builds with its own compiler, Open MPI and packages.
#
# Idempotent and fast on re-runs: the root is made once (debootstrap), packages are installed again
# only when PACKAGES below changes (a marker file in the root records the list), and the build folder
# and ccache live inside the root, so a fresh clone rebuilds from the cache. Everything it mounts is
# unmounted when it exits, also on failure or Ctrl-C.
#
# Usage (root): scripts/check-libtorch2.sh [extra ctest arguments, e.g. -L unit]
# Environment:
#   OMNITUNE_TRIXIE_ROOT  the root folder (default /var/cache/omnitune/trixie-root)
#   OMNITUNE_DEBIAN_MIRROR  Debian mirror (default: the one this machine's apt uses)
#   OMNITUNE_JOBS         build jobs (default: nproc)
set -euo pipefail

# The Debian 13 equivalents of scripts/install-deps.sh's list: one place, sorted into the marker.
PACKAGES=(
  # toolchain
  g++ make cmake pkg-config ccache
  # LibTorch 2.x (CPU) and the BLAS it must use (DESIGN.md §3)
  libtorch-dev libopenblas0-pthread
  # MPI and parallel HDF5
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
  # config, JSON, tokenizer (spm_train is in sentencepiece)
  libyaml-cpp-dev nlohmann-json3-dev libsentencepiece-dev sentencepiece
  # media: JPEG, PNG, audio, resampling, FFT; espeak-ng for omnitune-make-sample --spoken 1
  libturbojpeg0-dev libspng-dev libdeflate-dev libsndfile1-dev libsamplerate0-dev libfftw3-dev espeak-ng
  # Parquet page codecs
  libsnappy-dev libzstd-dev zlib1g-dev
  # SHA-256 of shards and checkpoints (libcrypto)
  libssl-dev
  # tests: GoogleTest; clang + its runtime libraries for the libFuzzer target; Pillow and numpy for
  # the image and audio references; matplotlib for plot_metrics.py; Node.js + npm for the
  # DuckDB-written Parquet test files
  libgtest-dev clang libclang-rt-dev python3-pil python3-numpy python3-matplotlib python3-h5py nodejs npm
)
SUITE=trixie

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=${OMNITUNE_TRIXIE_ROOT:-/var/cache/omnitune/trixie-root}
jobs=${OMNITUNE_JOBS:-$(nproc)}
build_in_root=/var/cache/omnitune-build   # build folder and ccache, inside the root
ccache_in_root=/var/cache/ccache
marker=$root/etc/omnitune-packages
t0=$(date +%s)

say() { echo "check-libtorch2: $*"; }
die() { echo "check-libtorch2: error: $*" >&2; exit 1; }
step_start() { step_t=$(date +%s); say "$1 ..."; }
step_done() { say "$1 done in $(( $(date +%s) - step_t )) s"; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and mount need it)"
mkdir -p "$(dirname "$root")"

# One run at a time per root: two CI runs on one machine share it. (Commands run in the root get
# fd 9 closed, so a process left behind there cannot hold the lock.)
exec 9>"$root.lock"
flock -n 9 || { say "waiting for another run that holds $root.lock"; flock -w 3600 9 || die "$root.lock still held after 1 h"; }

# --- mounts: every one this run makes is recorded and undone in reverse order on exit -----------
mounted=()
mounts_under() {  # mount points at or below $1 (from the kernel's table)
  awk -v p="$1" '$2 == p || index($2, p "/") == 1 {print $2}' /proc/self/mounts
}
cleanup() {
  local rc=$? i m
  for (( i = ${#mounted[@]} - 1; i >= 0; i-- )); do
    m=${mounted[i]}
    for _ in 1 2 3 4 5; do umount "$m" 2>/dev/null && continue 2; sleep 1; done
    echo "check-libtorch2: warning: $m is busy; detaching it (umount -l)" >&2
    umount -l "$m" || echo "check-libtorch2: error: could not unmount $m" >&2
  done
  [ "$rc" -eq 0 ] || echo "check-libtorch2: FAILED (exit $rc) after $(( $(date +%s) - t0 )) s" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
do_mount() {  # do_mount TARGET mount-args...: mounts and records TARGET for cleanup
  local target=$1; shift
  mkdir -p "$target"
  mount "$@" "$target"
  mounted+=("$target")
}

# --- 1. the root folder -----------------------------------------------------------------------
# A run killed outright (SIGKILL, a lost session) cannot unmount. We hold the lock, so no live run
# owns what is mounted under the root: detach it, deepest first (mounting sysfs over a stale sysfs
# fails).
stale=$(mounts_under "$root" | sort -r)
if [ -n "$stale" ]; then
  say "warning: unmounting what an interrupted run left under $root: $(echo $stale)"
  for m in $stale; do umount "$m" 2>/dev/null || umount -l "$m" || die "could not unmount $m"; done
fi
remove_tree() {  # never removes anything while something is mounted below it
  [ -e "$1" ] || return 0
  [ -z "$(mounts_under "$1")" ] || die "cannot remove $1: mounted below it: $(mounts_under "$1" | tr '\n' ' ')" \
    "- unmount those (umount PATH) and run again"
  rm -rf --one-file-system "$1"
}

if [ ! -x "$root/usr/bin/apt-get" ]; then
  step_start "creating the Debian 13 root in $root"
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap on the host"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q debootstrap >/dev/null \
      || { apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
           DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q debootstrap >/dev/null; }
  fi
  mirror=${OMNITUNE_DEBIAN_MIRROR:-$(grep -hoE '^(URIs:|deb)[[:space:]]+https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null \
    | awk '{print $2; exit}' || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  # Built beside the final path and renamed when complete, so an interrupted run leaves no half
  # root. Only what debootstrap made is removed; a foreign folder at either path is an error.
  if [ -e "$root" ]; then
    rmdir "$root" 2>/dev/null || die "$root exists but is no Debian root (no usr/bin/apt-get):" \
      "remove it or set OMNITUNE_TRIXIE_ROOT to another folder"
  fi
  if [ -e "$root.partial" ]; then
    [ -d "$root.partial/debootstrap" ] || [ -f "$root.partial/etc/debian_version" ] \
      || rmdir "$root.partial" 2>/dev/null || die "$root.partial exists and was not made by debootstrap: remove it"
    remove_tree "$root.partial"
  fi
  debootstrap --variant=minbase "$SUITE" "$root.partial" "$mirror" > "$root.partial.log" 2>&1 9>&- \
    || { tail -n 20 "$root.partial.log" >&2; die "debootstrap $SUITE from $mirror failed (log: $root.partial.log)"; }
  mv "$root.partial" "$root"
  rm -f "$root.partial.log"
  step_done "debootstrap ($SUITE from $mirror)"
else
  say "reusing the Debian 13 root in $root"
fi

do_mount "$root/proc" -t proc proc   # apt's maintainer scripts, the build and the tests need it

want=$(printf '%s\n' "suite=$SUITE" "${PACKAGES[@]}" | sort -u)
if [ "$(cat "$marker" 2>/dev/null)" != "$want" ]; then
  step_start "installing ${#PACKAGES[@]} packages in the root"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    bash -c 'apt-get update -q && apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
    bash "${PACKAGES[@]}" > "$root/var/log/omnitune-apt.log" 2>&1 9>&- \
    || { tail -n 30 "$root/var/log/omnitune-apt.log" >&2; die "apt-get in the root failed (log: $root/var/log/omnitune-apt.log)"; }
  printf '%s\n' "$want" > "$marker"
  step_done "package install"
else
  say "packages in the root are current (marker $marker)"
fi

# --- 2. mounts for the build and the tests ----------------------------------------------------
# Without /sys, hwloc finds no CPU topology and Open MPI launches fail (inspect_e2e showed it).
do_mount "$root/sys" -t sysfs -o ro sysfs
# Open MPI's shared-memory transport puts its segments here: in memory, and gone on unmount.
do_mount "$root/dev/shm" -t tmpfs -o mode=1777 tmpfs
do_mount "$root/src" --bind "$src"
mount -o remount,bind,ro "$root/src"

# --- 3. build and test inside the root ---------------------------------------------------------
# Runs a bash script inside the root with a clean environment; BUILD and JOBS are set for it.
# The tests install an npm package (the Parquet test generator's DuckDB) inside the root. The host's
# DNS settings and CA bundle go with it, each run: a network that inspects TLS with its own CA
# (trusted by the host, unknown to the root's packages) must work in the root as it does on the host.
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
tls_env=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$root/etc/omnitune"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/omnitune/host-ca-certificates.crt"
  tls_env=(NODE_EXTRA_CA_CERTS=/etc/omnitune/host-ca-certificates.crt
           npm_config_cafile=/etc/omnitune/host-ca-certificates.crt)
fi
in_root() {
  chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
    LANG=C.UTF-8 CI="${CI:-}" BUILD="$build_in_root" JOBS="$jobs" \
    CCACHE_DIR="$ccache_in_root" CCACHE_MAXSIZE=5G \
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "${tls_env[@]}" \
    bash -euo pipefail -c "$@" 9>&-
}
log=$root/var/log
say "$(in_root 'echo "LibTorch $(dpkg-query -W -f="\${Version}" libtorch-dev), $(g++ --version | head -n 1), $(mpirun --version | head -n 1)"')"

step_start "configuring (build folder $root$build_in_root)"
# The generator is the host build's (scripts/build.sh); a folder made with another one is started over.
generator="Unix Makefiles"
cache=$root$build_in_root/CMakeCache.txt
if [ -f "$cache" ] && ! grep -qx "CMAKE_GENERATOR:INTERNAL=$generator" "$cache"; then
  say "build folder was made with another generator: starting it over"
  rm -rf --one-file-system "${root:?}$build_in_root"
fi
in_root 'cmake -S /src -B "$BUILD" -G "$0" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOMNITUNE_WITH_NCCL=OFF' "$generator" \
  > "$log/omnitune-configure.log" 2>&1 \
  || { cat "$log/omnitune-configure.log" >&2; die "cmake configure failed in the root"; }
grep -E '^-- omnitune:' "$log/omnitune-configure.log" | sed 's/^-- /check-libtorch2: /'
step_done "configure"

step_start "building with $jobs jobs"
in_root 'ccache -z >/dev/null
  cmake --build "$BUILD" -j "$JOBS"
  ccache --print-stats | awk -F"\t" "/^(direct|preprocessed)_cache_hit/ {h += \$2} /^cache_miss/ {m = \$2}
    END {printf \"check-libtorch2: ccache: %d hits, %d misses\n\", h, m}"'
step_done "build"

step_start "running every test (ctest)"
ctest_rc=0
# The cluster tests (a real SLURM, the container build steps, shellcheck) exercise host scripts and
# Debian 12 package names, not LibTorch: they run in scripts/test.sh only.
in_root 'cd "$BUILD" && ctest --output-on-failure --timeout 600 -LE "slurm|containers|lint" "$@"' ctest "$@" \
  2>&1 | tee "$log/omnitune-ctest.log" || ctest_rc=$?
step_done "ctest"
summary=$(grep -E '^[0-9]+% tests passed' "$log/omnitune-ctest.log" | tail -n 1 || true)
say "LibTorch 2 ctest: ${summary:-no summary line (see $log/omnitune-ctest.log)}"
[ "$ctest_rc" -eq 0 ] || die "tests failed against LibTorch 2 (log: $log/omnitune-ctest.log)"
say "OK: built and tested against LibTorch 2 in $(( $(date +%s) - t0 )) s"
