package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/identityweb/go-identityweb/identityweb"
)

func (s *site) page(r *http.Request) pageData {
	d := pageData{Provider: "the development identity provider"}
	if s.idp == nil {
		d.Provider = "Microsoft Entra ID"
	}
	if acct, ok := s.app.Account(r); ok {
		d.User, d.CSRF = &acct, s.app.CSRFToken(r)
	} else {
		d.SignedOut = r.URL.Query().Get("signedout") == "1"
	}
	return d
}

// errorPage is AppOptions.ErrorPage: where a sign-in that did not complete
// (consent cancelled, access refused, provider error, expired link) ends,
// with the message the library says is safe to show and a way back.
func (s *site) errorPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	d := s.page(r)
	d.Error = &errorView{Status: status, Message: message}
	renderStatus(w, status, "error", d)
}

func (s *site) routes(mux *http.ServeMux, apiURL string) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { render(w, "home", s.page(r)) })
	mux.Handle("GET /me", s.app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := s.app.Token(r.Context(), identityweb.AsUser, []string{s.readS})
		if err != nil {
			s.app.Challenge(w, r, err)
			return
		}
		d := s.page(r)
		d.Token = &tokenView{Title: "Token for the Todo API", Scope: s.readS, R: res}
		render(w, "me", d)
	})))
	mux.Handle("GET /todos", s.app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := s.app.Token(r.Context(), identityweb.AsUser, []string{s.readS}) // for the metadata; the client below hits the cache
		if err != nil {
			s.app.Challenge(w, r, err)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, apiURL+"/todos", nil)
		resp, err := s.todo.Do(req)
		if err != nil {
			s.app.Challenge(w, r, err)
			return
		}
		defer resp.Body.Close()
		var todos []string
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&todos) != nil {
			http.Error(w, "The Todo API did not answer as expected.", http.StatusBadGateway)
			return
		}
		d := s.page(r)
		d.Token, d.Todos = &tokenView{Title: "Token for reading", Scope: s.readS, R: res}, todos
		// Is Todo.ReadWrite granted already? Asking for its token says so:
		// from the cache once granted, ErrInteractionRequired (consent
		// missing) before.
		if wres, err := s.app.Token(r.Context(), identityweb.AsUser, []string{s.writeS}); err == nil {
			d.WriteToken = &tokenView{Title: "Token for adding", Scope: s.writeS, R: wres}
		}
		d.Granted = r.URL.Query().Get("granted") == "1" && d.WriteToken != nil
		render(w, "todos", d)
	})))
	// Adding needs Todo.ReadWrite, not asked for at sign-in: the first visit
	// goes through the provider's consent page and comes back here, then
	// to the list, where the form now shows.
	mux.Handle("GET /todos/write", s.app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.app.Token(r.Context(), identityweb.AsUser, []string{s.writeS}); err != nil {
			s.app.Challenge(w, r, err)
			return
		}
		http.Redirect(w, r, "/todos?granted=1", http.StatusSeeOther)
	})))
	mux.Handle("POST /todos/write", s.app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("csrf") != s.app.CSRFToken(r) {
			http.Error(w, "Forbidden.", http.StatusForbidden)
			return
		}
		body, _ := json.Marshal(map[string]string{"text": r.PostFormValue("text")})
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, apiURL+"/todos", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.todoW.Do(req)
		if err != nil {
			s.app.Challenge(w, r, err)
			return
		}
		resp.Body.Close()
		http.Redirect(w, r, "/todos", http.StatusSeeOther)
	})))
}

// todoStore is the Todo API's data: each user's list, by object id.
type todoStore struct {
	mu    sync.Mutex
	lists map[string][]string
}

func newTodoStore() *todoStore { return &todoStore{lists: map[string][]string{}} }

// todoAPI is the protected Todo API (development only; with Entra, point
// TODO_API_URL at your own API).
func (s *site) todoAPI(w http.ResponseWriter, r *http.Request) {
	c, _ := identityweb.ClaimsFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	s.todos.mu.Lock()
	defer s.todos.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		json.NewEncoder(w).Encode(append([]string{}, s.todos.lists[c.ObjectID]...))
	case http.MethodPost:
		if identityweb.RequireScopes("Todo.ReadWrite")(c) != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="Todo.ReadWrite"`)
			http.Error(w, `{"error":"insufficient_scope"}`, http.StatusForbidden)
			return
		}
		var in struct{ Text string }
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if json.NewDecoder(r.Body).Decode(&in) != nil || strings.TrimSpace(in.Text) == "" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		s.todos.lists[c.ObjectID] = append(s.todos.lists[c.ObjectID], strings.TrimSpace(in.Text))
		w.WriteHeader(http.StatusCreated)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, `{"error":"method_not_allowed"}`, http.StatusMethodNotAllowed)
	}
}
