package record

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
)

// VersionOf digests a list of rule-set versions, in any order, into 12 hex digits: the same rule sets at the
// same generations give the same version, so a client computes it from the API server's rule sets and
// compares it with the one a sidecar reports.
func VersionOf(sets []RuleSetVersion) string {
	sorted := slices.Clone(sets)
	slices.SortFunc(sorted, func(a, b RuleSetVersion) int { return cmp.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, s := range sorted {
		h.Write([]byte(s.Name + " " + s.UID + " " + strconv.FormatInt(s.Generation, 10) + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
