package inject

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// unknownField is a field of a newer API server that k8s.io/api does not know, at the place it was sent.
type unknownField struct {
	path  []string // object keys, or "list=name" for the element of list with that name
	key   string
	value any
}

// unknownFields are put into the raw request at several depths; the patched pod must keep each of them.
var unknownFields = []unknownField{
	{path: []string{"metadata"}, key: "futureMeta", value: map[string]any{"owner": "team-a"}},
	{path: []string{"spec"}, key: "futureSpec", value: "spec-level"},
	{path: []string{"spec", "containers=app"}, key: "futureContainer", value: map[string]any{"mode": "fast", "n": 3.0}},
	{path: []string{"spec", "containers=app", "resources"}, key: "futureResources", value: []any{"a", "b"}},
	{path: []string{"spec", "initContainers=migrate"}, key: "futureInit", value: []any{map[string]any{"step": 1.0}}},
	{path: []string{"spec", "volumes=data"}, key: "futureVolume", value: true},
	{path: []string{"spec", "volumes=data", "emptyDir"}, key: "futureEmptyDir", value: "tmpfs-ish"},
}

// TestHandlerPatchKeepsUnknownFields sends a pod with fields our k8s.io/api does not know (as a newer API
// server would) and checks that the returned patch, applied to that raw pod, leaves every such field where it
// was, gives none of them to the injected containers, and otherwise yields exactly what Inject makes.
func TestHandlerPatchKeepsUnknownFields(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
	}{
		{name: "native sidecar"},
		{name: "sidecar in containers", annotations: map[string]string{AnnotationNativeSidecar: "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typed := basePod(func(p *corev1.Pod) {
				p.Annotations = tc.annotations
				p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:1"}}
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "proxy", Image: "registry.example/proxy:1"})
				p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			})
			raw := rawWithUnknownFields(t, typed)
			h, _ := newTestHandler(t, testConfig())
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "shop",
				Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
			}}
			resp := h.Handle(context.Background(), req)
			if !resp.Allowed || len(resp.Patches) == 0 {
				t.Fatalf("allowed %v, %d patches, %v", resp.Allowed, len(resp.Patches), resp.Result)
			}
			for _, op := range resp.Patches {
				if op.Operation == "remove" {
					t.Errorf("patch removes %s; injection only adds", op.Path)
				}
			}
			patched := applyPatch(t, raw, resp)
			var doc map[string]any
			if err := json.Unmarshal(patched, &doc); err != nil {
				t.Fatal(err)
			}

			for _, f := range unknownFields {
				parent := lookup(t, doc, f.path)
				if got, ok := parent[f.key]; !ok || !reflect.DeepEqual(got, f.value) {
					t.Errorf("%v.%s = %#v (present %v); want %#v as sent", f.path, f.key, got, ok, f.value)
				}
			}

			want := typed.DeepCopy()
			if err := Inject(want, enabledNamespace("shop", nil), testConfig()); err != nil {
				t.Fatal(err)
			}
			// The injected containers and volumes are exactly ours: nothing of an app's element moved into them.
			for list, containers := range map[string][]corev1.Container{
				"initContainers": want.Spec.InitContainers, "containers": want.Spec.Containers,
			} {
				for _, c := range containers {
					if c.Name == InitContainerName || c.Name == SidecarContainerName {
						assertExactly(t, lookup(t, doc, []string{"spec", list + "=" + c.Name}), c)
					}
				}
			}
			for _, v := range want.Spec.Volumes {
				if v.Name == PodInfoVolumeName || v.Name == TokenVolumeName {
					assertExactly(t, lookup(t, doc, []string{"spec", "volumes=" + v.Name}), v)
				}
			}
			// Otherwise (unknown fields aside, which our types drop on decoding) it is what Inject makes.
			got := &corev1.Pod{}
			if err := json.Unmarshal(patched, got); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, want) {
				gotYAML, _ := json.MarshalIndent(got, "", "  ")
				wantYAML, _ := json.MarshalIndent(want, "", "  ")
				t.Errorf("patched pod differs from Inject's:\ngot:  %s\nwant: %s", gotYAML, wantYAML)
			}
		})
	}
}

// rawWithUnknownFields marshals pod and adds unknownFields to it.
func rawWithUnknownFields(t *testing.T, pod *corev1.Pod) []byte {
	t.Helper()
	b, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, f := range unknownFields {
		lookup(t, doc, f.path)[f.key] = f.value
	}
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	return b
}

// lookup walks path ("key" or "list=name") from doc and returns the object there.
func lookup(t *testing.T, doc map[string]any, path []string) map[string]any {
	t.Helper()
	cur := doc
	for _, step := range path {
		key, name, isList := strings.Cut(step, "=")
		next, ok := cur[key]
		if !ok {
			t.Fatalf("%v: no %q", path, key)
		}
		if !isList {
			if cur, ok = next.(map[string]any); !ok {
				t.Fatalf("%v: %q is %T, not an object", path, key, next)
			}
			continue
		}
		list, _ := next.([]any)
		found := false
		for _, e := range list {
			if m, ok := e.(map[string]any); ok && m["name"] == name {
				cur, found = m, true
				break
			}
		}
		if !found {
			t.Fatalf("%v: no element named %q in %q", path, name, key)
		}
	}
	return cur
}

// assertExactly checks that the JSON object got is exactly want marshaled: no key more, none less.
func assertExactly(t *testing.T, got map[string]any, want any) {
	t.Helper()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]any
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Errorf("element %v is\n%s\nwant exactly\n%s", w["name"], g, b)
	}
}

// applyPatch applies the response's JSON patch to raw, as the API server does.
func applyPatch(t *testing.T, raw []byte, resp admission.Response) []byte {
	t.Helper()
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("applying the patch to the raw pod: %v\npatch: %s", err, ops)
	}
	return out
}

// TestCreatePatch covers list shapes Inject does not make today: a removal, a changed element found by name
// after an insertion, scalar lists. Applied to a raw object with an unknown field in each element, the patch
// must give the mutated object and keep every unknown field with its element.
func TestCreatePatch(t *testing.T) {
	type item struct {
		Name  string   `json:"name,omitempty"`
		Value string   `json:"value,omitempty"`
		Args  []string `json:"args,omitempty"`
	}
	type doc struct {
		Items []item `json:"items"`
	}
	original := doc{Items: []item{{Name: "a", Value: "1"}, {Name: "b", Args: []string{"x", "y"}}, {Name: "c"}}}
	mutated := doc{Items: []item{{Name: "new"}, {Name: "b", Value: "2", Args: []string{"w", "x", "y", "z"}}, {Name: "c"}}}
	ops, err := CreatePatch(original, mutated)
	if err != nil {
		t.Fatal(err)
	}
	raw := `{"items":[{"name":"a","value":"1","u":"a"},{"name":"b","args":["x","y"],"u":"b"},{"name":"c","u":"c"}],"top":1}`
	got := applyPatch(t, []byte(raw), admission.Response{Patches: ops})
	want := `{"items":[{"name":"new"},{"name":"b","value":"2","args":["w","x","y","z"],"u":"b"},{"name":"c","u":"c"}],"top":1}`
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		p, _ := json.Marshal(ops)
		t.Errorf("patched = %s\nwant      %s\npatch: %s", got, want, p)
	}
}
