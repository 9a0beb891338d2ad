package redirect

import (
	"errors"
	"testing"
)

func TestExplain(t *testing.T) {
	tests := []struct{ output, want string }{
		{"iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)", "capability NET_ADMIN"},
		{"iptables: Operation not permitted.", "capability NET_ADMIN"},
		{"Warning: Extension REDIRECT revision 0 not supported, missing kernel module?", "kernel support for iptables extension REDIRECT"},
		{"iptables v1.8.9 (nf_tables): Couldn't load match `owner':No such file or directory", "kernel support for iptables match owner"},
		{"iptables v1.6.1: Couldn't load target `REDIRECT':No such file or directory", "kernel support for iptables target REDIRECT"},
		{"iptables v1.8.4 (legacy): can't initialize iptables table `nat': Table does not exist (do you need to insmod?)", "kernel support for the nat table"},
		{"ip6tables v1.8.9 (legacy): can't initialize ip6tables table `filter': Address family not supported by protocol", "kernel support for the filter table"},
		{"socket: Address family not supported by protocol", "kernel support for the address family"},
	}
	for _, tt := range tests {
		cause := errors.New(tt.output)
		err := explain(cause)
		var missing *MissingError
		if !errors.As(err, &missing) || missing.What != tt.want || !errors.Is(err, cause) {
			t.Errorf("explain(%q) = %v, want a MissingError of %q wrapping the cause", tt.output, err, tt.want)
		}
	}

	plain := errors.New("iptables: Bad rule (does a matching rule exist in that chain?).")
	if err := explain(plain); err != plain {
		t.Errorf("explain changed an error that names nothing missing: %v", err)
	}
	if explain(nil) != nil {
		t.Error("explain(nil) != nil")
	}
	already := &MissingError{What: "ip6tables binary"}
	if err := explain(already); err != error(already) {
		t.Errorf("explain rewrapped a MissingError: %v", err)
	}
	if got := already.Error(); got != "missing ip6tables binary" {
		t.Errorf("MissingError without cause = %q", got)
	}
}
