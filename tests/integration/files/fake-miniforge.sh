#!/bin/bash
# A stand-in for a Miniforge installer (no conda installer can be downloaded where this
# collection is tested). It takes the real installer's batch arguments, -b -p PREFIX, and
# installs a "conda" whose only command, `conda create --yes --quiet --prefix P python=V`,
# makes a venv from the system python3 and refuses a Python version it cannot provide.
set -euo pipefail
batch=0 prefix=""
while [ $# -gt 0 ]; do
  case "$1" in
    -b) batch=1 ;;
    -p) prefix=$2; shift ;;
    *) echo "unexpected argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$batch" = 1 ] || { echo "interactive install is not supported by this stand-in" >&2; exit 2; }
[ -n "$prefix" ] || { echo "-p PREFIX is required" >&2; exit 2; }
[ -e "$prefix" ] && { echo "ERROR: File or directory already exists: '$prefix'" >&2; exit 1; }
mkdir -p "$prefix/bin" "$prefix/envs"
cat > "$prefix/bin/conda" <<'CONDA'
#!/bin/bash
set -euo pipefail
[ "$1" = create ] || { echo "stand-in conda knows only 'create'" >&2; exit 2; }
shift
prefix="" python=""
while [ $# -gt 0 ]; do
  case "$1" in
    --yes|--quiet) ;;
    --prefix) prefix=$2; shift ;;
    python=*) python=${1#python=} ;;
  esac
  shift
done
have=$(/usr/bin/python3 -c 'import platform; print(platform.python_version())')
case "$have" in
  "$python"|"$python".*) ;;
  *) echo "PackagesNotFoundError: python=$python (this stand-in has $have)" >&2; exit 1 ;;
esac
/usr/bin/python3 -m venv "$prefix"
CONDA
chmod +x "$prefix/bin/conda"
echo "installed to $prefix"
