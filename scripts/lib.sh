# Shared by scripts/*.sh: the tool environment and the collection link.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${SFDEPLOY_TOOLS_VENV:-$ROOT/.venv}

# tools_env REQUIREMENTS_FILE: create .venv (once) and install the pinned tools into it.
# The tools are installed with their bytecode: every ansible-playbook, molecule and pytest start
# would otherwise compile ansible-core from source again wherever PYTHONDONTWRITEBYTECODE is set
# (measured: 0.9 s -> 0.5 s of CPU for a bare ansible-playbook start; about 20 s once, here).
tools_env() {
  local reqs=$1 stamp
  if [ ! -x "$VENV/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
  stamp="$VENV/.installed-$( (cat "$ROOT/$reqs" "$ROOT/requirements.txt"; echo bytecode) | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv==0.13.9
    (cd "$ROOT" && "$VENV/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" -r "$reqs")
    touch "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
  # This checkout is the collection sfdeploy.secretflow: link it where ansible.cfg looks.
  mkdir -p "$ROOT/.collections/ansible_collections/sfdeploy"
  ln -sfn ../../.. "$ROOT/.collections/ansible_collections/sfdeploy/secretflow"
  # Its plugins with their bytecode too (only what changed is compiled again; the build leaves it
  # out): every ansible-playbook and every fork that runs an action plugin or a filter loads them
  # (measured where PYTHONDONTWRITEBYTECODE is set: a no-op setup.sh run 15.3 -> 14.3 CPU-s).
  "$VENV/bin/python" -m compileall -q "$ROOT/plugins" >/dev/null || true
  export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
}
