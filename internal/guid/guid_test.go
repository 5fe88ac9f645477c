package guid

import "testing"

func TestNew(t *testing.T) {
	a, b := New(), New()
	if len(a) != 36 || a == b || a[14] != '4' || a[8] != '-' || a[23] != '-' {
		t.Fatalf("New() = %q, %q", a, b)
	}
}
