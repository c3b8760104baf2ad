package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/nacl/box"
)

type repository struct {
	id                  int64
	owner, name         string
	actions, dependabot *scope
	envs                map[string]*scope
	issues              map[int]*issue // issues and pull requests, by number
	issuesOff           bool           // the repository's issues are disabled
}

type organization struct {
	login   string
	actions *scope
}

// scope is where secrets live under one public key: a repository's Actions
// or Dependabot secrets, an environment's, or an organization's.
type scope struct {
	pub, priv *[32]byte
	keyID     string
	secrets   map[string]*secret
}

type secret struct {
	value      string
	visibility string
	selected   []int64
}

type scopeKind int

const (
	repoActions scopeKind = iota
	repoDependabot
	environment
	orgActions
)

type secretOp int

const (
	publicKeyOp secretOp = iota
	getOp
	putOp
	deleteOp
)

// repo finds the repository a request names by owner and name or by id.
// The caller holds s.mu.
func (s *Server) repo(r *http.Request) *repository {
	if id := r.PathValue("id"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil
		}
		return s.byID[n]
	}
	return s.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
}

// scope finds the scope a request addresses; the caller holds s.mu.
func (s *Server) scope(kind scopeKind, r *http.Request) *scope {
	if kind == orgActions {
		if o := s.orgs[strings.ToLower(r.PathValue("org"))]; o != nil {
			return o.actions
		}
		return nil
	}
	rp := s.repo(r)
	if rp == nil {
		return nil
	}
	switch kind {
	case repoActions:
		return rp.actions
	case repoDependabot:
		return rp.dependabot
	}
	return rp.envs[r.PathValue("env")] // PathValue is already unescaped
}

var (
	validName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	improperSeal = "Bad request - validation failed due to an improperly encrypted secret"
)

func checkName(name string) string {
	switch {
	case !validName.MatchString(name) || len(name) > 255:
		return "Failed to add secret. Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_). Spaces are not allowed. Must start with a letter ([a-z], [A-Z]) or underscores (_)."
	case strings.HasPrefix(strings.ToUpper(name), "GITHUB_"):
		return "Failed to add secret. Secret names must not start with GITHUB_."
	}
	return ""
}

type putBody struct {
	KeyID          *string `json:"key_id"`
	EncryptedValue *string `json:"encrypted_value"`
	Visibility     string  `json:"visibility"`
	SelectedIDs    []int64 `json:"selected_repository_ids"`
}

func (s *Server) secrets(kind scopeKind, op secretOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		sc := s.scope(kind, r)
		if sc == nil {
			notFound(w)
			return
		}
		name := r.PathValue("name")
		switch op {
		case publicKeyOp:
			writeJSON(w, http.StatusOK, map[string]string{
				"key_id": sc.keyID,
				"key":    base64.StdEncoding.EncodeToString(sc.pub[:]),
			})
		case getOp:
			sec, ok := sc.secrets[name]
			if !ok {
				notFound(w)
				return
			}
			out := map[string]any{"name": name, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
			if kind == orgActions {
				out["visibility"] = sec.visibility
			}
			writeJSON(w, http.StatusOK, out)
		case deleteOp:
			if !s.tokenCanWrite(r) {
				writeJSON(w, http.StatusForbidden, message("Resource not accessible by integration"))
				return
			}
			if _, ok := sc.secrets[name]; !ok {
				notFound(w)
				return
			}
			delete(sc.secrets, name)
			w.WriteHeader(http.StatusNoContent)
		case putOp:
			if !s.tokenCanWrite(r) {
				writeJSON(w, http.StatusForbidden, message("Resource not accessible by integration"))
				return
			}
			s.put(w, r, kind, sc, name)
		}
	}
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, kind scopeKind, sc *scope, name string) {
	unprocessable := func(m string) { writeJSON(w, http.StatusUnprocessableEntity, message(m)) }
	if m := checkName(name); m != "" {
		unprocessable(m)
		return
	}
	var b putBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return
	}
	if b.KeyID == nil || *b.KeyID == "" {
		unprocessable("Invalid request.\n\n\"key_id\" wasn't supplied.")
		return
	}
	if b.EncryptedValue == nil {
		unprocessable("Invalid request.\n\n\"encrypted_value\" wasn't supplied.")
		return
	}
	s.sealed = append(s.sealed, *b.EncryptedValue)
	sealedBox, err := base64.StdEncoding.DecodeString(*b.EncryptedValue)
	if err != nil || *b.KeyID != sc.keyID {
		unprocessable(improperSeal)
		return
	}
	plain, ok := box.OpenAnonymous(nil, sealedBox, sc.pub, sc.priv)
	if !ok {
		unprocessable(improperSeal)
		return
	}
	sec := &secret{value: string(plain)}
	if kind == orgActions {
		switch b.Visibility {
		case "all", "private":
		case "selected":
			for _, id := range b.SelectedIDs {
				if s.byID[id] == nil {
					unprocessable("Invalid request.\n\nRepository " + strconv.FormatInt(id, 10) + " in selected_repository_ids was not found.")
					return
				}
			}
			sec.selected = append([]int64(nil), b.SelectedIDs...)
		default:
			unprocessable("Invalid request.\n\n\"visibility\" must be one of all, private, selected.")
			return
		}
		sec.visibility = b.Visibility
	}
	_, existed := sc.secrets[name]
	sc.secrets[name] = sec
	if existed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusCreated, struct{}{})
}

// tokenCanWrite reports whether the request's token may write secrets; the
// caller holds s.mu.
func (s *Server) tokenCanWrite(r *http.Request) bool {
	tok, _ := bearer(r)
	return s.tokens[tok].WriteSecrets
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rp := s.repo(r)
	s.mu.Unlock()
	writeRepo(w, rp)
}

func (s *Server) getRepoByID(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rp := s.repo(r)
	s.mu.Unlock()
	writeRepo(w, rp)
}

func writeRepo(w http.ResponseWriter, rp *repository) {
	if rp == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":        rp.id,
		"name":      rp.name,
		"full_name": rp.owner + "/" + rp.name,
		"owner":     map[string]any{"login": rp.owner},
		"private":   true,
	})
}
