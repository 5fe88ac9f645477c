package main

import (
	"testing"

	"github.com/identityweb/go-identityweb/samples/frameworks/frameworkstest"
)

// TestGin starts the sample and drives it: sign-in, a user token, the web
// API (OBO), sign-out.
func TestGin(t *testing.T) { frameworkstest.Drive(t, sample) }
