package httppath

import (
	"net/http"
	"testing"
)

func TestExcluded(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		drop   []string // besides the hop-by-hop headers
		keep   []string
	}{
		{name: "keep-alive names no header", header: http.Header{"Connection": {"keep-alive"}, "Accept": {"*/*"}},
			keep: []string{"Accept"}},
		{name: "close names no header", header: http.Header{"Connection": {"close"}, "Accept": {"*/*"}},
			keep: []string{"Accept"}},
		{name: "a named header", header: http.Header{"Connection": {"keep-alive, X-Hop"}, "X-Hop": {"1"}, "Accept": {"*/*"}},
			drop: []string{"X-Hop"}, keep: []string{"Accept"}},
		{name: "named in another case, in a second value", header: http.Header{"Connection": {"close", " x-hop "}, "X-Hop": {"1"}},
			drop: []string{"X-Hop"}},
		{name: "h2c upgrade settings", header: http.Header{"Http2-Settings": {"AAA"}, "Accept": {"*/*"}},
			drop: []string{"Http2-Settings"}, keep: []string{"Accept"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := excluded(tt.header)
			for k := range hopByHop {
				if !got[k] {
					t.Errorf("%s not excluded", k)
				}
			}
			for _, k := range tt.drop {
				if !got[k] {
					t.Errorf("%s not excluded", k)
				}
			}
			for _, k := range tt.keep {
				if got[k] {
					t.Errorf("%s excluded", k)
				}
			}
			if len(tt.drop) == 0 && len(got) != len(hopByHop) {
				t.Errorf("a set of its own (%d entries) where the hop-by-hop set does", len(got))
			}
		})
	}
}
