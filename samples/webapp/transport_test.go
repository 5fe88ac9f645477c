package main

import (
	"crypto/tls"
	"net/http"
)

// insecureLoopbackTransport is for this test only: the sample's provider
// listens on 127.0.0.1 with a certificate that only the sample trusts.
func insecureLoopbackTransport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // loopback test
}
