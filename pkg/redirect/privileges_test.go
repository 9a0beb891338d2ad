package redirect

import "testing"

func TestEffectiveCaps(t *testing.T) {
	status := "Name:\tegress-init\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000001000\n"
	caps, err := effectiveCaps(status)
	if err != nil || caps != 1<<capNetAdmin {
		t.Errorf("effectiveCaps = %#x, %v, want only NET_ADMIN", caps, err)
	}
	if _, err := effectiveCaps("Name:\tx\n"); err == nil {
		t.Error("effectiveCaps accepted a status without CapEff")
	}
}
