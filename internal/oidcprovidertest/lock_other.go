//go:build !unix

package oidcprovidertest

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// lockFile creates path exclusively, waiting at most wait for another
// holder to remove it, and returns its release (which removes it).
func lockFile(path string, wait time.Duration) (func(), error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) || time.Now().After(deadline) {
			return nil, fmt.Errorf("taking the install lock %s: %w", path, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
