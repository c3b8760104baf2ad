package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// An Issue is an issue or a pull request as the server holds it.
type Issue struct {
	Number      int
	Pull        bool   // a pull request, which the issues API lists too
	User        string // the author's login
	Title, Body string
	State       string // open or closed
	StateReason string // completed, not_planned, reopened, or "" when never closed
	ClosedBy    string // who closed it last; "" when never closed
	Edits       int    // how many times the issue was updated (PATCH)
}

// OpenIssue opens an issue in a repository added before, by user, as
// someone other than tokenward would, and returns its number.
func (s *Server) OpenIssue(fullName, user, title, body string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[strings.ToLower(fullName)]
	if !ok {
		s.t.Fatalf("githubtest: OpenIssue: no repository %q", fullName)
	}
	return s.addNewIssue(r, user, title, body).number
}

// CloseIssue closes an issue, as user (someone, or tokenward's login) would,
// with reason completed or not_planned.
func (s *Server) CloseIssue(fullName string, number int, user, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(fullName)]
	if r == nil || r.issues[number] == nil {
		s.t.Fatalf("githubtest: CloseIssue: no issue %s#%d", fullName, number)
	}
	s.setState(r.issues[number], "closed", reason, user)
}

// DisableIssues turns a repository's issues off, as its settings can: the
// issue endpoints then answer 410 Gone, as GitHub does.
func (s *Server) DisableIssues(fullName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(fullName)]
	if r == nil {
		s.t.Fatalf("githubtest: DisableIssues: no repository %q", fullName)
	}
	r.issuesOff = true
}

// Issues returns a repository's issues and pull requests, by number.
func (s *Server) Issues(fullName string) []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(fullName)]
	if r == nil {
		return nil
	}
	var out []Issue
	for _, is := range r.sortedIssues() {
		out = append(out, Issue{Number: is.number, Pull: is.pull, User: is.user, Title: is.title, Body: is.body,
			State: is.state, StateReason: is.stateReason, ClosedBy: is.closedBy, Edits: is.edits})
	}
	return out
}

// newIssue makes an open issue; the caller holds s.mu.
func (s *Server) newIssue(number int, pull bool, user, title, body string) *issue {
	now := time.Now().UTC().Truncate(time.Second)
	s.nextID++
	return &issue{number: number, pull: pull, user: user, title: title, body: body,
		state: "open", created: now, updated: now, order: s.nextID}
}

// addNewIssue adds an issue numbered after every issue and pull request of
// r, as GitHub numbers them; the caller holds s.mu.
func (s *Server) addNewIssue(r *repository, user, title, body string) *issue {
	if r.issues == nil {
		r.issues = map[int]*issue{}
	}
	n := 1
	for k := range r.issues {
		n = max(n, k+1)
	}
	is := s.newIssue(n, false, user, title, body)
	r.issues[n] = is
	return is
}

// setState opens or closes an issue; the caller holds s.mu.
func (s *Server) setState(is *issue, state, reason, by string) {
	now := time.Now().UTC().Truncate(time.Second)
	switch {
	case state == "closed" && is.state != "closed":
		is.closed, is.closedBy = now, by
		if reason == "" {
			reason = "completed"
		}
		is.stateReason = reason
	case state == "closed":
		if reason != "" {
			is.stateReason = reason
		}
	case state == "open" && is.state == "closed":
		is.closed, is.stateReason = time.Time{}, "reopened"
	}
	is.state = state
	s.touch(is)
}

// touch marks an issue updated; the caller holds s.mu.
func (s *Server) touch(is *issue) {
	s.nextID++
	is.updated, is.order = time.Now().UTC().Truncate(time.Second), s.nextID
}

func (rp *repository) sortedIssues() []*issue {
	out := make([]*issue, 0, len(rp.issues))
	for _, is := range rp.issues {
		out = append(out, is)
	}
	slices.SortFunc(out, func(a, b *issue) int { return a.number - b.number })
	return out
}

// issuesGone answers 410 when the repository's issues are off and reports
// whether it did; the caller holds s.mu.
func issuesGone(w http.ResponseWriter, rp *repository) bool {
	if rp != nil && rp.issuesOff {
		writeJSON(w, http.StatusGone, message("Issues are disabled for this repo"))
		return true
	}
	return false
}

// listIssues implements GET /repos/{owner}/{repo}/issues: pull requests
// among them, filtered by state (open by default, closed or all) and
// creator (a login), sorted by created (the default), updated or comments,
// desc by default, in pages of per_page (30 by default, at most 100) with a
// Link header. An unknown state, sort or direction is a 422, as on GitHub.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(r)
	if rp == nil {
		notFound(w)
		return
	}
	if issuesGone(w, rp) {
		return
	}
	q := r.URL.Query()
	state, sortBy, dir := or(q.Get("state"), "open"), or(q.Get("sort"), "created"), or(q.Get("direction"), "desc")
	if !slices.Contains([]string{"open", "closed", "all"}, state) ||
		!slices.Contains([]string{"created", "updated", "comments"}, sortBy) ||
		!slices.Contains([]string{"asc", "desc"}, dir) {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Message: "Validation Failed",
			Errors: []fieldError{{Resource: "Issue", Code: "invalid", Field: "state, sort or direction"}}})
		return
	}
	creator := q.Get("creator")
	var match []*issue
	for _, is := range rp.sortedIssues() {
		if (state == "all" || is.state == state) && (creator == "" || strings.EqualFold(is.user, creator)) {
			match = append(match, is)
		}
	}
	key := func(is *issue) int64 {
		switch sortBy {
		case "updated":
			return is.order
		case "comments":
			return int64(len(is.comments))
		}
		return int64(is.number)
	}
	slices.SortStableFunc(match, func(a, b *issue) int {
		c := key(a) - key(b)
		if c == 0 {
			c = int64(a.number - b.number)
		}
		if dir == "desc" {
			c = -c
		}
		return int(max(min(c, 1), -1))
	})
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max((len(match)+perPage-1)/perPage, 1)
	out := []map[string]any{}
	for i := (page - 1) * perPage; i < min(page*perPage, len(match)); i++ {
		out = append(out, s.issueJSON(rp, match[i], false))
	}
	if links := s.pageLinks(r, page, last, perPage); links != "" {
		w.Header().Set("Link", links)
	}
	writeJSON(w, http.StatusOK, out)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// issueRequest is the body of POST and PATCH; a field left out is nil.
type issueRequest struct {
	Title       *string `json:"title"`
	Body        *string `json:"body"`
	State       *string `json:"state"`
	StateReason *string `json:"state_reason"`
}

// readIssueRequest decodes and checks the body of a create (create true)
// or an edit, answering the request itself when it is rejected.
func readIssueRequest(w http.ResponseWriter, r *http.Request, create bool) (issueRequest, bool) {
	var b issueRequest
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return b, false
	}
	invalid := func(field, code, m string) (issueRequest, bool) {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{
			Message:          "Validation Failed",
			Errors:           []fieldError{{Resource: "Issue", Code: code, Field: field, Message: m}},
			DocumentationURL: "https://docs.github.com/rest/issues/issues",
		})
		return b, false
	}
	switch {
	case (create || b.Title != nil) && (b.Title == nil || strings.TrimSpace(*b.Title) == ""):
		return invalid("title", "missing_field", "")
	case b.Body != nil && utf8.RuneCountInString(*b.Body) > MaxCommentLength:
		return invalid("body", "custom", fmt.Sprintf("body is too long (maximum is %d characters)", MaxCommentLength))
	case b.State != nil && *b.State != "open" && *b.State != "closed":
		return invalid("state", "invalid", "")
	case b.StateReason != nil && !slices.Contains([]string{"completed", "not_planned", "reopened"}, *b.StateReason):
		return invalid("state_reason", "invalid", "")
	}
	return b, true
}

// createIssue implements POST /repos/{owner}/{repo}/issues, which needs
// issues: write.
func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(r)
	if !s.mayWriteIssues(w, r, rp) {
		return
	}
	b, ok := readIssueRequest(w, r, true)
	if !ok {
		return
	}
	body := ""
	if b.Body != nil {
		body = *b.Body
	}
	is := s.addNewIssue(rp, s.login(r), *b.Title, body)
	writeJSON(w, http.StatusCreated, s.issueJSON(rp, is, true))
}

// getIssue implements GET /repos/{owner}/{repo}/issues/{number}; unlike
// the list, it tells who closed the issue.
func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is := s.issue(r)
	if issuesGone(w, rp) {
		return
	}
	if rp == nil || is == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.issueJSON(rp, is, true))
}

// editIssue implements PATCH /repos/{owner}/{repo}/issues/{number}: the
// title, the body and the state (closing records who closed it).
func (s *Server) editIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is := s.issue(r)
	if !s.mayWriteIssues(w, r, rp) {
		return
	}
	if is == nil {
		notFound(w)
		return
	}
	b, ok := readIssueRequest(w, r, false)
	if !ok {
		return
	}
	if b.Title != nil {
		is.title = *b.Title
	}
	if b.Body != nil {
		is.body = *b.Body
	}
	switch {
	case b.State != nil:
		reason := ""
		if b.StateReason != nil {
			reason = *b.StateReason
		}
		s.setState(is, *b.State, reason, s.login(r))
	case b.StateReason != nil && is.state == "closed":
		is.stateReason = *b.StateReason
	}
	is.edits++
	s.touch(is)
	writeJSON(w, http.StatusOK, s.issueJSON(rp, is, true))
}

// mayWriteIssues answers 404 for an unknown repository, 410 when its issues
// are off and 403 for a token without issues: write, as GitHub does, and
// reports whether none was needed; the caller holds s.mu.
func (s *Server) mayWriteIssues(w http.ResponseWriter, r *http.Request, rp *repository) bool {
	switch {
	case rp == nil:
		notFound(w)
		return false
	case issuesGone(w, rp):
		return false
	case !s.grant(r).WriteIssues:
		writeJSON(w, http.StatusForbidden, message("Resource not accessible by integration"))
		return false
	}
	return true
}

// grant is what the request's token may do; the caller holds s.mu.
func (s *Server) grant(r *http.Request) TokenGrant {
	tok, _ := bearer(r)
	return s.tokens[tok]
}

// issueJSON is an issue as GitHub answers it; single adds closed_by, which
// GitHub sends for one issue, not in lists.
func (s *Server) issueJSON(rp *repository, is *issue, single bool) map[string]any {
	full := rp.owner + "/" + rp.name
	api := s.root()
	kind := "issues"
	if is.pull {
		kind = "pull"
	}
	user := func(login string) map[string]any {
		t := "User"
		if strings.HasSuffix(login, "[bot]") {
			t = "Bot"
		}
		return map[string]any{"login": login, "type": t}
	}
	out := map[string]any{
		"id":         rp.id*100000 + int64(is.number),
		"node_id":    "I_" + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s#%d", full, is.number)),
		"number":     is.number,
		"url":        fmt.Sprintf("%s/repos/%s/issues/%d", api, full, is.number),
		"html_url":   fmt.Sprintf("https://github.com/%s/%s/%d", full, kind, is.number),
		"title":      is.title,
		"body":       is.body,
		"user":       user(is.user),
		"state":      is.state,
		"labels":     []any{},
		"comments":   len(is.comments),
		"created_at": is.created.Format(time.RFC3339),
		"updated_at": is.updated.Format(time.RFC3339),
		"closed_at":  nil,

		"author_association": "NONE",
	}
	if is.stateReason != "" {
		out["state_reason"] = is.stateReason
	} else {
		out["state_reason"] = nil
	}
	if !is.closed.IsZero() {
		out["closed_at"] = is.closed.Format(time.RFC3339)
	}
	if single {
		out["closed_by"] = nil
		if is.closedBy != "" {
			out["closed_by"] = user(is.closedBy)
		}
	}
	if is.pull {
		out["pull_request"] = map[string]any{
			"url":      fmt.Sprintf("%s/repos/%s/pulls/%d", api, full, is.number),
			"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", full, is.number),
		}
	}
	return out
}
