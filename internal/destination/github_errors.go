package destination

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
)

// subject is what a failed GitHub request was about, for its error message.
type subject struct {
	kind        string
	repo        string // owner/name
	env         string
	org         string
	selectedFor string // the organization a looked-up repository was selected for
}

// GitHubError is a failed GitHub request explained: what to fix, then what
// GitHub said. It unwraps to the request's error, for callers that check
// GitHub's status. It never holds a value, sealed or not: requests' bodies
// are not part of go-github's errors, and GitHub's messages do not repeat
// them.
type GitHubError struct {
	Hint   string // what to fix
	Detail string // what GitHub said, or ""
	Err    error
}

func (e *GitHubError) Error() string {
	if e.Detail == "" {
		return e.Hint
	}
	return e.Hint + " (" + e.Detail + ")"
}

func (e *GitHubError) Unwrap() error { return e.Err }

// GitHubHint says what to fix after GitHub answered a request with status
// code (never 401) and message, GitHub's message with the details of its
// errors list. quoted tells that the hint quotes message already, so that
// GitHub's answer need not follow it.
type GitHubHint func(code int, message string) (hint string, quoted bool)

// status returns the HTTP status of GitHub's answer in err, or 0.
func status(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

func improperlyEncrypted(err error) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil &&
		er.Response.StatusCode == http.StatusUnprocessableEntity &&
		strings.Contains(er.Message, "improperly encrypted")
}

// explain turns a failure of a request about s into an error that says what
// to fix.
func explain(err error, s subject) error { return ExplainGitHub(err, s.hint) }

// ExplainGitHub turns err, a failed GitHub request, into an error that says
// what to fix, then what GitHub answered: hint says what to fix for each
// answer but 401, which always means the token is invalid or expired. The
// errors of a GitHub writer's own transport (a rate limit it does not wait
// out, no answer in time) and of a GitHub App's token exchange are
// explained here; any other error that holds no answer of GitHub, or that
// is explained already, is returned as it is.
func ExplainGitHub(err error, hint GitHubHint) error {
	var (
		ge  *GitHubError
		rl  *rateLimitError
		to  *timeoutError
		app *ghinstallation.HTTPError
		er  *github.ErrorResponse
	)
	switch {
	case err == nil || errors.As(err, &ge):
		return err
	case errors.As(err, &rl):
		return rl
	case errors.As(err, &to):
		return to
	case errors.As(err, &app):
		detail := app.Message
		if app.Response != nil {
			detail = "GitHub answered " + app.Response.Status
		}
		return &GitHubError{Hint: "could not get a GitHub App installation token: check the app id, the installation id and the private key", Detail: detail, Err: err}
	case !errors.As(err, &er) || er.Response == nil:
		return err
	}
	code := er.Response.StatusCode
	m := message(er)
	said := fmt.Sprintf("GitHub answered %d: %s", code, m)
	if code == http.StatusUnauthorized {
		return &GitHubError{Hint: "the GitHub token is invalid or expired", Detail: said, Err: err}
	}
	h, quoted := hint(code, m)
	if quoted {
		said = ""
	}
	return &GitHubError{Hint: h, Detail: said, Err: err}
}

// hint says what to fix after GitHub refused a request about s.
func (s subject) hint(code int, message string) (string, bool) {
	where := s.repo
	if s.kind == KindOrganizationSecret && s.selectedFor == "" {
		where = s.org
	}
	switch {
	case code == http.StatusForbidden:
		perm := "Secrets: write"
		switch s.kind {
		case KindDependabotSecret:
			perm = "Dependabot secrets: write"
		case KindOrganizationSecret:
			perm = "organization Secrets: write"
		}
		if s.env != "" {
			// GitHub asks for both to write an environment's secrets.
			perm = "Secrets: write and Environments: write"
		}
		return fmt.Sprintf("the token or GitHub App lacks the %s permission on %s", perm, where), false
	case code == http.StatusNotFound:
		switch {
		case s.selectedFor != "":
			return fmt.Sprintf("repository %s, selected for the secret of organization %s, not found, or the token cannot see it", s.repo, s.selectedFor), false
		case s.kind == KindOrganizationSecret:
			return fmt.Sprintf("organization %s not found, or the token cannot see it", s.org), false
		case s.env != "":
			return fmt.Sprintf("repository %s (or its environment %q) not found, or the token cannot see it", s.repo, s.env), false
		default:
			return fmt.Sprintf("repository %s not found, or the token cannot see it", s.repo), false
		}
	case code == http.StatusUnprocessableEntity:
		hint := "GitHub rejected the secret: " + message + "; check the secret name"
		if s.kind == KindOrganizationSecret {
			hint += " and the selected repositories"
		}
		return hint, true
	case code >= 500:
		return fmt.Sprintf("GitHub failed with %d on every attempt; try again later", code), false
	case code == http.StatusTooManyRequests:
		return "GitHub rate limited the request on every attempt; try again later", false
	default:
		return fmt.Sprintf("GitHub refused the request about %s", where), false
	}
}

// message is GitHub's message with the details of its errors list: each
// error's message, or its field and code when it has none.
func message(er *github.ErrorResponse) string {
	m := strings.Join(strings.Fields(er.Message), " ")
	for _, e := range er.Errors {
		d := strings.TrimSpace(e.Message)
		if d == "" {
			d = strings.TrimSpace(e.Field + " " + e.Code)
		}
		if d != "" {
			m += "; " + d
		}
	}
	return m
}
