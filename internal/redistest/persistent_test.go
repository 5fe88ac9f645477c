package redistest

import "testing"

func TestPersistentKeepsDataAcrossKill(t *testing.T) {
	s := StartPersistent(t)
	if s.External() {
		t.Skip("needs a private redis-server it can kill")
	}
	if _, err := Do(s.Addr, "SET", "k", "v", "EX", "60"); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if v, err := Do(s.Addr, "GET", "k"); err != nil || v != "v" {
		t.Fatalf("after a kill and restart: %q, %v", v, err)
	}
}
