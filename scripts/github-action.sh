#!/usr/bin/env bash
# The steps of action.yml: aggregen check, then aggregen breaking against the pull
# request's base, as GitHub annotations on stdout and a Markdown report appended to
# $GITHUB_STEP_SUMMARY. Exit 1 when either finds a blocking problem, 2 when the base
# cannot be read. Reads what GitHub sets (GITHUB_ACTION_PATH, GITHUB_BASE_REF,
# GITHUB_STEP_SUMMARY) and the action's inputs (AGGREGEN_AGAINST, AGGREGEN_SCHEMAS,
# AGGREGEN_INSTALL, AGGREGEN_PYTHON). tests/test_ci_kit.py runs it.
set -uo pipefail

python="${AGGREGEN_PYTHON:-python3}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
read -r -a schemas <<< "${AGGREGEN_SCHEMAS:-}"

if [ "${AGGREGEN_INSTALL:-true}" = "true" ]; then
  "$python" -m pip install --quiet --disable-pip-version-check "${GITHUB_ACTION_PATH:?}[generate]" || {
    echo "::error title=aggregen::could not install aggregen from $GITHUB_ACTION_PATH"
    exit 2
  }
fi
aggregen=(aggregen)
command -v aggregen >/dev/null 2>&1 || aggregen=("$python" -m aggregen)

against="${AGGREGEN_AGAINST:-}"
if [ -z "$against" ] && [ -n "${GITHUB_BASE_REF:-}" ]; then
  against="origin/$GITHUB_BASE_REF"
  if ! git rev-parse --verify --quiet "$against^{commit}" >/dev/null; then
    git fetch --no-tags --quiet origin "+refs/heads/$GITHUB_BASE_REF:refs/remotes/$against" || {
      echo "::error title=aggregen::cannot fetch the base branch $GITHUB_BASE_REF from origin"
      exit 2
    }
  fi
fi

status=0
{
  echo "## aggregen check"
  echo
} >> "$summary"
check_text=$("${aggregen[@]}" check "${schemas[@]}")
check_status=$?
"${aggregen[@]}" check --format github "${schemas[@]}"
if [ "$check_status" -eq 0 ]; then
  echo "$check_text" >> "$summary"
else
  status=$check_status
  { echo '```'; echo "$check_text"; echo '```'; } >> "$summary"
fi

if [ -n "$against" ]; then
  "${aggregen[@]}" breaking --against "$against" --format github "${schemas[@]}"
  breaking_status=$?
  { echo; echo "## aggregen breaking --against $against"; echo; } >> "$summary"
  "${aggregen[@]}" breaking --against "$against" --format markdown "${schemas[@]}" >> "$summary"
  if [ "$breaking_status" -gt "$status" ]; then
    status=$breaking_status
  fi
else
  { echo; echo "aggregen breaking skipped: not a pull request and no \`against\` input."; } >> "$summary"
fi
exit "$status"
