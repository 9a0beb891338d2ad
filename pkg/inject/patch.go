package inject

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
)

// CreatePatch returns the JSON patch operations that turn original into mutated, both objects of our own
// types, for applying to the raw object that original was decoded from.
//
// The raw object may carry fields a newer API server knows and our types do not. They appear in neither
// original nor mutated, so no operation mentions them: a field is removed only when the mutation removed it.
// A diff of the raw object against mutated would instead remove every unknown field, and, pairing list
// elements by position, would rewrite an app's init container into egress-init after an insertion at index 0
// (keeping the app's unknown fields there) and add the app's container again without them. Here list
// elements are paired by name (containers, volumes, env, ...) or, without one, by equality; an insertion is
// an add at its index, so the raw elements after it shift intact, and a paired element that changed is
// patched field by field. Object members are set with add, which creates or replaces them (RFC 6902 4.1), so
// a member our types write but the raw object lacks (an empty struct, a null) is no obstacle.
func CreatePatch(original, mutated any) ([]jsonpatch.Operation, error) {
	a, err := toJSONValue(original)
	if err != nil {
		return nil, fmt.Errorf("encoding the original object: %w", err)
	}
	b, err := toJSONValue(mutated)
	if err != nil {
		return nil, fmt.Errorf("encoding the mutated object: %w", err)
	}
	return diffValue(a, b, "", nil), nil
}

// toJSONValue round-trips v through JSON into maps, slices and scalars.
func toJSONValue(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// diffValue appends the operations that turn a into b at path. A change of a whole value (a scalar, or a
// change of type) is a replace; the caller turns it into an add for object members.
func diffValue(a, b any, path string, ops []jsonpatch.Operation) []jsonpatch.Operation {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			return diffObject(av, bv, path, ops)
		}
	case []any:
		if bv, ok := b.([]any); ok {
			return diffList(av, bv, path, ops)
		}
	}
	if reflect.DeepEqual(a, b) {
		return ops
	}
	return append(ops, jsonpatch.NewOperation("replace", path, b))
}

// diffObject adds, changes and removes members, in key order so that patches are stable.
func diffObject(a, b map[string]any, path string, ops []jsonpatch.Operation) []jsonpatch.Operation {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := path + "/" + escapePointer(k)
		av, inA := a[k]
		bv, inB := b[k]
		switch {
		case !inA:
			ops = append(ops, jsonpatch.NewOperation("add", p, bv))
		case !inB:
			ops = append(ops, jsonpatch.NewOperation("remove", p, nil))
		default:
			n := len(ops)
			ops = diffValue(av, bv, p, ops)
			// A whole member replaced: add, so a member the raw object lacks is created rather than failing.
			if len(ops) == n+1 && ops[n].Path == p && ops[n].Operation == "replace" {
				ops[n].Operation = "add"
			}
		}
	}
	return ops
}

// diffList pairs a's and b's elements (see sameElement) along a longest common subsequence and walks it:
// an element only in a is removed, one only in b is added at its index, a pair is diffed in place. Indexes
// are those of the list as the earlier operations left it, as JSON patch applies them in order.
func diffList(a, b []any, path string, ops []jsonpatch.Operation) []jsonpatch.Operation {
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if sameElement(a[i], b[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j, at := 0, 0, 0
	for i < len(a) || j < len(b) {
		p := path + "/" + strconv.Itoa(at)
		switch {
		case i < len(a) && j < len(b) && sameElement(a[i], b[j]):
			ops = diffValue(a[i], b[j], p, ops)
			i, j, at = i+1, j+1, at+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, jsonpatch.NewOperation("add", p, b[j]))
			j, at = j+1, at+1
		default:
			ops = append(ops, jsonpatch.NewOperation("remove", p, nil))
			i++
		}
	}
	return ops
}

// sameElement reports whether two list elements are the same element, possibly changed: objects with a
// string "name" (containers, volumes, env, ports, mounts: the lists' merge key) by name, anything else by
// equality.
func sameElement(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		an, aName := am["name"].(string)
		bn, bName := bm["name"].(string)
		if aName && bName {
			return an == bn
		}
	}
	return reflect.DeepEqual(a, b)
}

// escapePointer escapes a key for a JSON pointer (RFC 6901).
func escapePointer(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}
