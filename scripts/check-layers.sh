#!/usr/bin/env bash
# Fails on any #include that points up the layer stack: the table between
# the `layers:begin` and `layers:end` markers in docs/architecture.md says
# which folders each layer's files may include, and every quoted include of
# every source under a layer folder is checked against it. Registered with
# CTest as `layers`; run it by hand as scripts/check-layers.sh [ROOT].
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
doc="$root/docs/architecture.md"
[ -f "$doc" ] || { echo "check-layers: $doc not found" >&2; exit 2; }

# "| layer | may include |" rows: layer -> space-separated folders.
declare -A allowed
while IFS='|' read -r _ layer may _; do
  layer=$(echo "$layer" | tr -d ' `')
  may=$(echo "$may" | tr -d '`' | tr ',' ' ' | xargs)
  [ -n "$layer" ] && allowed[$layer]="$may"
done < <(sed -n '/<!-- layers:begin -->/,/<!-- layers:end -->/p' "$doc" | grep '^| *`' || true)
if [ ${#allowed[@]} -eq 0 ]; then
  echo "check-layers: no layer table between <!-- layers:begin --> and <!-- layers:end --> in $doc" >&2
  exit 2
fi

bad=0 checked=0
for layer in "${!allowed[@]}"; do
  [ -d "$root/$layer" ] || { echo "check-layers: layer '$layer' in the table has no folder $root/$layer" >&2; bad=1; continue; }
  while IFS= read -r -d '' f; do
    checked=$((checked + 1))
    while IFS=: read -r line inc; do
      top=${inc%%/*}
      [ "$top" = "$inc" ] && continue  # no folder: a same-folder or system-style include
      ok=0
      for a in ${allowed[$layer]}; do [ "$top" = "$a" ] && ok=1; done
      if [ $ok -eq 0 ]; then
        echo "check-layers: ${f#"$root"/}:$line includes \"$inc\": layer '$layer' may include only ${allowed[$layer]// /, }"
        bad=1
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed 's/^\([0-9]*\):.*"\([^"]*\)".*/\1:\2/')
  done < <(find "$root/$layer" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) -print0)
done
if [ $bad -ne 0 ]; then
  echo "check-layers: FAILED (the table is in docs/architecture.md)"
  exit 1
fi
echo "check-layers: $checked files in ${#allowed[@]} layers, every include points down or sideways within its layer"
