package identitywebtest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestFailNext(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	conf := daemon(s, apiDefault)
	for _, tc := range []struct {
		fault      iwt.Fault
		code       string
		retryAfter string
	}{
		{iwt.Fault{Status: 500}, "server_error", ""},
		{iwt.Fault{Status: 503, RetryAfter: 10 * time.Second}, "temporarily_unavailable", "10"},
		{iwt.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}, "temporarily_unavailable", "2"},
	} {
		t.Run(fmt.Sprint(tc.fault.Status), func(t *testing.T) {
			s.ResetRequests()
			s.FailNext(2, tc.fault)
			for i := 0; i < 2; i++ {
				_, err := conf.Token(ctxFor(s))
				var re *oauth2.RetrieveError
				if !asRetrieve(err, &re) || re.Response.StatusCode != tc.fault.Status || re.ErrorCode != tc.code {
					t.Fatalf("attempt %d: %v", i, err)
				}
				if got := re.Response.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Fatalf("Retry-After = %q, want %q", got, tc.retryAfter)
				}
			}
			if _, err := conf.Token(ctxFor(s)); err != nil {
				t.Fatalf("after the faults: %v", err)
			}
			recs := s.Requests()
			if len(recs) != 3 || !recs[0].Injected || !recs[1].Injected || recs[2].Injected || recs[2].Status != 200 {
				t.Fatalf("log = %+v", recs)
			}
			if s.TokenRequests("client_credentials") != 3 || s.TokenRequests("refresh_token") != 0 {
				t.Fatalf("counts: %d", s.TokenRequests())
			}
		})
	}
}

func TestLatencyAndClientTimeout(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	s.SetLatency(10 * time.Second)
	c := s.Client()
	c.Timeout = 50 * time.Millisecond
	ctx := ctxWithClient(c)
	if _, err := daemon(s, apiDefault).Token(ctx); err == nil {
		t.Fatal("request with 10s injected latency did not time out at 50ms")
	}
	s.SetLatency(0)
	if _, err := daemon(s, apiDefault).Token(ctxFor(s)); err != nil {
		t.Fatal(err)
	}
}

func TestOutage(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	s.SetOutage(true)
	if _, err := daemon(s, apiDefault).Token(ctxFor(s)); err == nil {
		t.Fatal("token request succeeded during an outage")
	}
	if _, err := s.Client().Get(s.Issuer(tenant) + "/.well-known/openid-configuration"); err == nil {
		t.Fatal("discovery answered during an outage")
	}
	if n := s.TokenRequests(); n != 0 {
		t.Fatalf("token requests counted during an outage: %d", n)
	}
	recs := s.Requests()
	if len(recs) < 2 || recs[0].Status != -1 || recs[0].Endpoint != "outage" {
		t.Fatalf("outage log = %+v", recs)
	}
	s.SetOutage(false)
	if _, err := daemon(s, apiDefault).Token(ctxFor(s)); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	s.FailNext(1, iwt.Fault{Status: 500})
	s.SetLatency(time.Second)
	s.ClearFaults()
	if _, err := daemon(s, apiDefault).Token(ctxFor(s)); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

func TestRequestLogHoldsNoSecrets(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	tok := signIn(t, s, "", apiScope)
	obo, err := obo(s, tok.AccessToken, "User.Read")
	if err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprintf("%+v", s.Requests())
	for _, secret := range []string{iwt.WebAppSecret, iwt.WebAPISecret, tok.AccessToken, tok.RefreshToken, obo.AccessToken, tok.Extra("id_token").(string)} {
		if strings.Contains(dump, secret) {
			t.Fatalf("request log contains a secret or token")
		}
	}
	var grants []string
	for _, r := range s.Requests() {
		if r.Endpoint == "token" {
			grants = append(grants, r.GrantType+"/"+r.ClientID)
		}
	}
	want := []string{"authorization_code/" + iwt.WebAppClientID, iwt.GrantJWTBearer + "/" + iwt.WebAPIClientID}
	if fmt.Sprint(grants) != fmt.Sprint(want) {
		t.Fatalf("token requests = %v, want %v", grants, want)
	}
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	if err == nil {
		return false
	}
	var r *oauth2.RetrieveError
	ok := errorsAs(err, &r)
	*re = r
	return ok
}
