package session_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/sessions"

	"github.com/identityweb/go-identityweb/session"
)

// Both adapters keep the times in the session, so a second manager over
// the same store (another instance of the app) reads what the first wrote.
func TestTimesTravelWithTheSession(t *testing.T) {
	store := memstore.New()
	scsInstance := func() session.Manager {
		sm := scs.New()
		sm.Store = store
		s, _ := session.NewSCS(sm, session.SCSOptions{})
		return s
	}
	keys := [][]byte{[]byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")}
	cookies := sessions.NewCookieStore(keys...)
	gorillaInstance := func() session.Manager {
		g, _ := session.NewGorilla(cookies, session.GorillaOptions{})
		return g
	}
	for name, instance := range map[string]func() session.Manager{"scs": scsInstance, "gorilla": gorillaInstance} {
		t.Run(name, func(t *testing.T) {
			a, b := instance(), instance()
			in := time.Unix(1_700_000_000, 123)
			want := session.Times{SignedIn: in, LastSeen: in.Add(time.Minute)}
			w := httptest.NewRecorder()
			a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := a.Times(r.Context()); !got.SignedIn.IsZero() {
					t.Errorf("times before sign-in: %+v", got)
				}
				a.SignIn(r.Context(), "key", session.Account{Name: "A"})
				if err := a.SetTimes(r.Context(), want); err != nil {
					t.Error(err)
				}
			})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			r := httptest.NewRequest("GET", "/", nil)
			for _, c := range w.Result().Cookies() {
				r.AddCookie(c)
			}
			b.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := b.Times(r.Context()); !got.SignedIn.Equal(want.SignedIn) || !got.LastSeen.Equal(want.LastSeen) {
					t.Errorf("times on another instance = %+v, want %+v", got, want)
				}
			})).ServeHTTP(httptest.NewRecorder(), r)
		})
	}
}

func TestLifetimesExpired(t *testing.T) {
	in := time.Unix(1_700_000_000, 0)
	l := session.Lifetimes{Idle: 30 * time.Minute, Absolute: 8 * time.Hour}
	cases := []struct {
		name string
		t    session.Times
		now  time.Time
		want bool
	}{
		{"fresh", session.Times{in, in}, in.Add(time.Minute), false},
		{"idle just under", session.Times{in, in}, in.Add(30*time.Minute - time.Second), false},
		{"idle reached", session.Times{in, in}, in.Add(30 * time.Minute), true},
		{"active, under absolute", session.Times{in, in.Add(7 * time.Hour)}, in.Add(7*time.Hour + time.Minute), false},
		{"active, absolute reached", session.Times{in, in.Add(8 * time.Hour)}, in.Add(8 * time.Hour), true},
		{"no times", session.Times{}, in, true},
		{"last seen before sign-in", session.Times{in, in.Add(-time.Hour)}, in.Add(time.Minute), false},
	}
	for _, c := range cases {
		if got := l.Expired(c.t, c.now); got != c.want {
			t.Errorf("%s: Expired = %v, want %v", c.name, got, c.want)
		}
	}
	if (session.Lifetimes{}).Expired(session.Times{}, in) {
		t.Error("no bounds: expired")
	}
	if l.TouchEvery() != time.Minute || (session.Lifetimes{Idle: 5 * time.Minute}).TouchEvery() != 30*time.Second {
		t.Error("TouchEvery")
	}
}

// Lifetimes judge a session by the times it keeps: 30 minutes idle or 8
// hours after sign-in, whichever comes first.
func ExampleLifetimes() {
	l := session.Lifetimes{Idle: 30 * time.Minute, Absolute: 8 * time.Hour}
	in := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	t := session.Times{SignedIn: in, LastSeen: in.Add(7 * time.Hour)}
	fmt.Println(l.Expired(t, in.Add(7*time.Hour+20*time.Minute)))
	fmt.Println(l.Expired(t, in.Add(7*time.Hour+40*time.Minute)))
	fmt.Println(l.Deadline(in).Format(time.Kitchen))
	// Output:
	// false
	// true
	// 5:00PM
}
