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
	if s.devIdP == "" {
		d.Provider = "Microsoft Entra ID"
	}
	if acct, ok := s.app.Account(r); ok {
		d.User, d.CSRF = &acct, s.app.CSRFToken(r)
	}
	return d
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
		d.Token = &tokenView{Scope: s.readS, R: res}
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
		d.Token, d.Todos = &tokenView{Scope: s.readS, R: res}, todos
		render(w, "todos", d)
	})))
	// Adding needs Todo.ReadWrite, not asked for at sign-in: the first visit
	// goes through the provider's consent page and comes back here.
	mux.Handle("/todos/write", s.app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := s.app.Token(r.Context(), identityweb.AsUser, []string{s.writeS})
		if err != nil {
			s.app.Challenge(w, r, err)
			return
		}
		if r.Method == http.MethodPost {
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
			return
		}
		d := s.page(r)
		d.Token = &tokenView{Scope: s.writeS, R: res}
		render(w, "write", d)
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
