#!/usr/bin/env bash
# Build a serial (OpenMP, no MPI) DFTB+ from a source archive and install its
# `dftb+` into a virtual environment's bin/ (called by `make dftbplus`).
#
#   tools/build_dftbplus.sh SRC SHA256 VENV
#
# SRC     a local source archive (.tar.gz/.tar.xz) or an http(s) URL
# SHA256  the archive's expected sha256, checked when not empty (a download
#         without one is used with a warning that prints its sha256)
# VENV    the environment whose bin/ receives dftb+
#
# Does nothing when a dftb+ is already on PATH or in VENV/bin. The build is
# cached by the archive's sha256 in ${XDG_CACHE_HOME:-~/.cache}/mftl/dftbplus-<sha256>/,
# so a fresh clone (CI) reuses it; delete that folder to rebuild.
set -euo pipefail

src=${1:?usage: build_dftbplus.sh SRC SHA256 VENV}
expected_sha=${2-}
venv=${3:?usage: build_dftbplus.sh SRC SHA256 VENV}

if [ -x "$venv/bin/dftb+" ]; then
    echo "dftbplus: $venv/bin/dftb+ exists; nothing to do (delete it to reinstall)"
    exit 0
fi
if command -v dftb+ > /dev/null; then
    echo "dftbplus: using $(command -v dftb+) from PATH; nothing to build"
    exit 0
fi

# Build tools, checked before anything is downloaded or built (a missing one costs
# seconds, not a failed build) unless a finished build of this archive is cached.
check_build_tools() {
    local missing=() tool ldconfig_bin tools=(gfortran cc cmake make tar)
    case "$src" in http://* | https://*) tools+=(curl) ;; esac
    for tool in "${tools[@]}"; do
        command -v "$tool" > /dev/null || missing+=("$tool")
    done
    ldconfig_bin=$(command -v ldconfig || echo /sbin/ldconfig)
    if ! "$ldconfig_bin" -p 2> /dev/null | grep -qE 'lib(openblas|lapack)\.so '; then
        missing+=("BLAS/LAPACK (libopenblas or liblapack development files)")
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        echo "dftbplus: missing build tools: ${missing[*]}" >&2
        echo "  Debian/Ubuntu: apt-get install gfortran gcc make cmake curl libopenblas-dev" >&2
        echo "  Fedora/RHEL:   dnf install gcc-gfortran gcc make cmake curl openblas-devel" >&2
        echo "  or skip the build: conda install -c conda-forge 'dftbplus=25.1=nompi_*'" >&2
        exit 1
    fi
}

refuse_wrong_archive() { # ARCHIVE SHA256: a wrong archive stops here, whatever else is missing
    if [ -n "$expected_sha" ] && [ "$2" != "$expected_sha" ]; then
        echo "dftbplus: $1 has sha256 $2, expected $expected_sha (DFTBPLUS_SHA256)" >&2
        exit 1
    fi
}

cache=${XDG_CACHE_HOME:-$HOME/.cache}/mftl
cached_sha=$expected_sha
case "$src" in
    http://* | https://*) ;;
    *)
        if [ -f "$src" ]; then # checked first: a wrong local archive is refused before the build tools are asked for
            cached_sha=$(sha256sum "$src" | cut -d' ' -f1)
            refuse_wrong_archive "$src" "$cached_sha"
        fi
        ;;
esac
if [ -z "$cached_sha" ] || [ ! -f "$cache/dftbplus-$cached_sha/.complete" ]; then
    check_build_tools
fi
mkdir -p "$cache"

case "$src" in
    http://* | https://*)
        archive=$cache/downloads/$(basename "$src")
        if [ ! -f "$archive" ]; then
            mkdir -p "$cache/downloads"
            echo "dftbplus: downloading $src"
            curl -fL --retry 3 -o "$archive.part" "$src"
            mv "$archive.part" "$archive"
        fi
        ;;
    *)
        archive=$src
        if [ ! -f "$archive" ]; then
            echo "dftbplus: DFTBPLUS_SRC '$archive' does not exist" >&2
            exit 1
        fi
        ;;
esac

sha=$(sha256sum "$archive" | cut -d' ' -f1)
refuse_wrong_archive "$archive" "$sha" # a download: checked once it is here
if [ -z "$expected_sha" ] && [ "$archive" != "$src" ]; then
    echo "dftbplus: WARNING: $src is not checked against a known sha256; it has $sha:" >&2
    echo "  compare it with the release page and pin it with DFTBPLUS_SHA256=$sha" >&2
fi

build_root=$cache/dftbplus-$sha
if [ ! -f "$build_root/.complete" ]; then
    echo "dftbplus: building $archive into $build_root (3-7 min on 2 cores)"
    rm -rf "$build_root"
    mkdir -p "$build_root/unpacked"
    tar -xf "$archive" -C "$build_root/unpacked"
    # Release archives hold one top folder (dftbplus-25.1/), `git archive` none.
    tops=("$build_root"/unpacked/*)
    if [ ${#tops[@]} -eq 1 ] && [ -d "${tops[0]}" ]; then
        mv "${tops[0]}" "$build_root/src"
    else
        mv "$build_root/unpacked" "$build_root/src"
    fi
    rm -rf "$build_root/unpacked"
    # The top-level CMakeLists.txt always adds test/, which source archives
    # without the test suite lack.
    if [ ! -f "$build_root/src/test/CMakeLists.txt" ]; then
        mkdir -p "$build_root/src/test"
        : > "$build_root/src/test/CMakeLists.txt"
    fi
    # WITH_API stays on (the default): 25.1 does not compile with it off.
    cmake -S "$build_root/src" -B "$build_root/build" \
        -DCMAKE_BUILD_TYPE=Release -DWITH_OMP=ON -DWITH_MPI=OFF \
        -DCMAKE_INSTALL_PREFIX="$build_root/install" > "$build_root/configure.log"
    cmake --build "$build_root/build" -j "${DFTBPLUS_JOBS:-$(nproc)}" > "$build_root/build.log"
    cmake --install "$build_root/build" > "$build_root/install.log"
    touch "$build_root/.complete"
fi

mkdir -p "$venv/bin"
install -m 755 -s "$build_root/install/bin/dftb+" "$venv/bin/dftb+"
echo "dftbplus: installed $venv/bin/dftb+ ($(basename "$build_root"))"
