#!/usr/bin/env bash
# verify-generated.sh regenerates deepcopy and the CRD and fails when that changed anything, so a stale
# generated file never passes `make test`. The regenerated files are left in place for review.
set -euo pipefail
cd "$(dirname "$0")/.."
files=(api/v1alpha1/zz_generated.deepcopy.go manifests/crd/*.yaml)
before=$(sha256sum "${files[@]}" 2>/dev/null || true)
make --no-print-directory generate >/dev/null
after=$(sha256sum api/v1alpha1/zz_generated.deepcopy.go manifests/crd/*.yaml)
if [[ "$before" != "$after" ]]; then
	echo "verify-generated: generated files were stale (now regenerated; review and commit them):" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	exit 1
fi
echo "verify-generated: deepcopy and CRD are up to date"
