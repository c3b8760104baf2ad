package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxCommentLength is the most characters GitHub accepts in the body of an
// issue or pull request comment.
const MaxCommentLength = 65536

// issue is an issue or a pull request: GitHub keeps the comments of both
// under /issues.
type issue struct {
	number   int
	pull     bool
	comments []*comment // in creation order

	// What issues.go serves: the issue itself.
	user, title, body  string
	state, stateReason string // open or closed; completed, not_planned, reopened or ""
	closedBy           string // login of who closed it last; "" while never closed
	created, updated   time.Time
	closed             time.Time // zero while open
	order              int64     // increases with every change, to sort by updated
	edits              int       // successful PATCHes of the issue
}

type comment struct {
	id               int64
	issue            *issue
	user, body       string
	created, updated time.Time
	edits            int
}

// A Comment is an issue or pull request comment as the server holds it.
type Comment struct {
	ID    int64
	User  string // the author's login
	Body  string
	Edits int // how many times the body was updated
}

// AddPullRequest adds pull request number to a repository added before, so
// that it can be commented on.
func (s *Server) AddPullRequest(fullName string, number int) { s.addIssue(fullName, number, true) }

// AddIssue adds issue number to a repository added before, so that it can be
// commented on.
func (s *Server) AddIssue(fullName string, number int) { s.addIssue(fullName, number, false) }

func (s *Server) addIssue(fullName string, number int, pull bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[strings.ToLower(fullName)]
	if !ok {
		s.t.Fatalf("githubtest: add #%d: no repository %q", number, fullName)
	}
	if number <= 0 {
		s.t.Fatalf("githubtest: add #%d to %s: numbers start at 1", number, fullName)
	}
	if r.issues == nil {
		r.issues = map[int]*issue{}
	}
	if _, ok := r.issues[number]; !ok {
		r.issues[number] = s.newIssue(number, pull, "octocat", fmt.Sprintf("#%d", number), "")
	}
}

// AddComment adds a comment by user to an issue or pull request added
// before, as someone other than tokenward would write it, and returns its id.
func (s *Server) AddComment(fullName string, number int, user, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(fullName)]
	if r == nil || r.issues[number] == nil {
		s.t.Fatalf("githubtest: AddComment: no issue or pull request %s#%d", fullName, number)
	}
	return s.newComment(r.issues[number], user, body).id
}

// Comments returns the comments of an issue or pull request, in creation
// order.
func (s *Server) Comments(fullName string, number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(fullName)]
	if r == nil || r.issues[number] == nil {
		return nil
	}
	var out []Comment
	for _, c := range r.issues[number].comments {
		out = append(out, Comment{ID: c.id, User: c.user, Body: c.body, Edits: c.edits})
	}
	return out
}

// newComment adds a comment; the caller holds s.mu.
func (s *Server) newComment(is *issue, user, body string) *comment {
	s.nextID++
	now := time.Now().UTC().Truncate(time.Second)
	c := &comment{id: s.nextID, issue: is, user: user, body: body, created: now, updated: now}
	is.comments = append(is.comments, c)
	s.touch(is) // a comment updates its issue, as on GitHub
	return c
}

// issue finds the issue or pull request a request names; the caller holds
// s.mu.
func (s *Server) issue(r *http.Request) (*repository, *issue) {
	rp := s.repo(r)
	if rp == nil {
		return nil, nil
	}
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil {
		return rp, nil
	}
	return rp, rp.issues[n]
}

// listComments implements GET /repos/{owner}/{repo}/issues/{number}/comments:
// pages of per_page comments (30 by default, at most 100) in creation order,
// with a Link header as GitHub sends.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is := s.issue(r)
	if rp == nil || is == nil {
		notFound(w)
		return
	}
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max((len(is.comments)+perPage-1)/perPage, 1)
	out := []map[string]any{}
	for i := (page - 1) * perPage; i < min(page*perPage, len(is.comments)); i++ {
		out = append(out, s.commentJSON(rp, is.comments[i]))
	}
	if links := s.pageLinks(r, page, last, perPage); links != "" {
		w.Header().Set("Link", links)
	}
	writeJSON(w, http.StatusOK, out)
}

// pageLinks is the Link header of page out of last: next and last while
// there are more, first and prev after the first.
func (s *Server) pageLinks(r *http.Request, page, last, perPage int) string {
	link := func(p int, rel string) string {
		u := url.URL{Path: r.URL.Path}
		q := r.URL.Query()
		q.Set("per_page", strconv.Itoa(perPage))
		q.Set("page", strconv.Itoa(p))
		u.RawQuery = q.Encode()
		return fmt.Sprintf("<%s%s>; rel=%q", s.root(), u.String(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(min(page-1, last), "prev"))
	}
	return strings.Join(links, ", ")
}

type commentBody struct {
	Body *string `json:"body"`
}

// readCommentBody decodes and checks a comment's body, answering the
// request itself when it is rejected.
func readCommentBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var b commentBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Problems parsing JSON"))
		return "", false
	}
	invalid := func(m string) {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{
			Message:          "Validation Failed",
			Errors:           []fieldError{{Resource: "IssueComment", Code: "unprocessable", Field: "data", Message: m}},
			DocumentationURL: "https://docs.github.com/rest/issues/comments",
		})
	}
	switch {
	case b.Body == nil || strings.TrimSpace(*b.Body) == "":
		invalid("Body cannot be blank")
		return "", false
	case utf8.RuneCountInString(*b.Body) > MaxCommentLength:
		invalid(fmt.Sprintf("Body is too long (maximum is %d characters)", MaxCommentLength))
		return "", false
	}
	return *b.Body, true
}

// createComment implements POST /repos/{owner}/{repo}/issues/{number}/comments.
func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is := s.issue(r)
	if !s.mayComment(w, r, rp) {
		return
	}
	if is == nil {
		notFound(w)
		return
	}
	body, ok := readCommentBody(w, r)
	if !ok {
		return
	}
	c := s.newComment(is, s.login(r), body)
	writeJSON(w, http.StatusCreated, s.commentJSON(rp, c))
}

// editComment implements PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}.
// A comment of another repository is not found, as on GitHub.
func (s *Server) editComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repo(r)
	if !s.mayComment(w, r, rp) {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("comment_id"), 10, 64)
	c := rp.comment(id)
	if err != nil || c == nil {
		notFound(w)
		return
	}
	body, ok := readCommentBody(w, r)
	if !ok {
		return
	}
	c.body = body
	c.edits++
	c.updated = time.Now().UTC().Truncate(time.Second)
	writeJSON(w, http.StatusOK, s.commentJSON(rp, c))
}

func (rp *repository) comment(id int64) *comment {
	for _, is := range rp.issues {
		for _, c := range is.comments {
			if c.id == id {
				return c
			}
		}
	}
	return nil
}

// mayComment answers 404 for an unknown repository and 403 for a token that
// may not write comments, as GitHub does, and reports whether neither was
// needed; the caller holds s.mu.
func (s *Server) mayComment(w http.ResponseWriter, r *http.Request, rp *repository) bool {
	switch {
	case rp == nil:
		notFound(w)
		return false
	case !s.tokenCanComment(r) && !s.grant(r).WriteIssues:
		writeJSON(w, http.StatusForbidden, message("Resource not accessible by integration"))
		return false
	}
	return true
}

// tokenCanComment reports whether the request's token may write comments;
// the caller holds s.mu.
func (s *Server) tokenCanComment(r *http.Request) bool {
	tok, _ := bearer(r)
	return s.tokens[tok].WriteComments
}

// getUser implements GET /user: the user a personal token acts as. Like
// GitHub, it refuses installation tokens and a workflow's GITHUB_TOKEN,
// which act as a bot.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	login := s.login(r)
	s.mu.Unlock()
	if login == "" || strings.HasSuffix(login, "[bot]") {
		writeJSON(w, http.StatusForbidden, message("Resource not accessible by integration"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": login, "type": "User"})
}

// login is the user the request's token acts as; the caller holds s.mu.
func (s *Server) login(r *http.Request) string {
	tok, _ := bearer(r)
	return s.tokens[tok].Login
}

func (s *Server) commentJSON(rp *repository, c *comment) map[string]any {
	full := rp.owner + "/" + rp.name
	kind := "issues"
	if c.issue.pull {
		kind = "pull"
	}
	userType := "User"
	if strings.HasSuffix(c.user, "[bot]") {
		userType = "Bot"
	}
	api := s.root()
	return map[string]any{
		"id":         c.id,
		"node_id":    "IC_" + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.id, 10))),
		"url":        fmt.Sprintf("%s/repos/%s/issues/comments/%d", api, full, c.id),
		"html_url":   fmt.Sprintf("https://github.com/%s/%s/%d#issuecomment-%d", full, kind, c.issue.number, c.id),
		"issue_url":  fmt.Sprintf("%s/repos/%s/issues/%d", api, full, c.issue.number),
		"body":       c.body,
		"user":       map[string]any{"login": c.user, "type": userType},
		"created_at": c.created.Format(time.RFC3339),
		"updated_at": c.updated.Format(time.RFC3339),

		"author_association": "NONE",
	}
}
