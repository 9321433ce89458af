#!/usr/bin/env bash
# The README's two commands on a "fresh machine": a clean clone of HEAD, a new virtual environment, an empty
# matplotlib configuration and cache (MPLCONFIGDIR), an empty home, and — where user namespaces allow it — every
# system font folder hidden behind an empty tmpfs, so that nothing installed by hand (CJK fonts, a warm font
# cache, packages) can make the run pass. Figures must still draw Chinese, from the font the install brings.
#
#   bash scripts/check_fresh_machine.sh [WORKDIR]      (needs network access to the package index)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d /tmp/geofacility-fresh.XXXXXX)}"
mkdir -p "$work"
git clone -q "$repo" "$work/clone"
python3 -m venv "$work/venv"
mkdir -p "$work/home" "$work/mpl"

inner=$(cat <<'INNER'
set -euo pipefail
if [ "$HIDE_FONTS" = 1 ]; then
  for d in /usr/share/fonts /usr/local/share/fonts; do
    if [ -d "$d" ]; then mount -t tmpfs none "$d" && echo "hidden: $d"; fi
  done
fi
echo "system fonts left: $(fc-list 2>/dev/null | wc -l)"
. "$WORK/venv/bin/activate"
cd "$WORK/clone"
export HOME="$WORK/home" MPLCONFIGDIR="$WORK/mpl" XDG_CACHE_HOME="$WORK/home/.cache"
# the README's two commands, as .ci/run runs them (CI=true: a missing test dependency fails instead of skipping)
export CI=true
pip install -q -e . && geofacility analyze --out output/xicheng
pip install -q -e ".[test]" && python -m pytest -q
INNER
)
export WORK="$work"
if unshare -rm true 2>/dev/null; then
  HIDE_FONTS=1 unshare -rm bash -c "$inner"
else
  echo "user namespaces unavailable: system fonts stay visible; MPLCONFIGDIR and HOME are still empty"
  HIDE_FONTS=0 bash -c "$inner"
fi
