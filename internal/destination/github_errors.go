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

// githubError is a GitHub failure explained: what to fix, then what GitHub
// said. It never holds a value, sealed or not: requests' bodies are not part
// of go-github's errors, and GitHub's messages do not repeat them.
type githubError struct {
	hint   string
	detail string
	err    error
}

func (e *githubError) Error() string {
	if e.detail == "" {
		return e.hint
	}
	return e.hint + " (" + e.detail + ")"
}

func (e *githubError) Unwrap() error { return e.err }

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
func explain(err error, s subject) error {
	var (
		ge  *githubError
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
		return &githubError{hint: "could not get a GitHub App installation token: check the app id, the installation id and the private key", detail: detail, err: err}
	case !errors.As(err, &er) || er.Response == nil:
		return err
	}
	code := er.Response.StatusCode
	said := fmt.Sprintf("GitHub answered %d: %s", code, er.Message)
	where := s.repo
	if s.kind == KindOrganizationSecret && s.selectedFor == "" {
		where = s.org
	}
	var hint string
	switch {
	case code == http.StatusUnauthorized:
		hint = "the GitHub token is invalid or expired"
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
		hint = fmt.Sprintf("the token or GitHub App lacks the %s permission on %s", perm, where)
	case code == http.StatusNotFound:
		switch {
		case s.selectedFor != "":
			hint = fmt.Sprintf("repository %s, selected for the secret of organization %s, not found, or the token cannot see it", s.repo, s.selectedFor)
		case s.kind == KindOrganizationSecret:
			hint = fmt.Sprintf("organization %s not found, or the token cannot see it", s.org)
		case s.env != "":
			hint = fmt.Sprintf("repository %s (or its environment %q) not found, or the token cannot see it", s.repo, s.env)
		default:
			hint = fmt.Sprintf("repository %s not found, or the token cannot see it", s.repo)
		}
	case code == http.StatusUnprocessableEntity:
		hint = "GitHub rejected the secret: " + message(er) + "; check the secret name"
		if s.kind == KindOrganizationSecret {
			hint += " and the selected repositories"
		}
		said = ""
	case code >= 500:
		hint = fmt.Sprintf("GitHub failed with %d on every attempt; try again later", code)
	case code == http.StatusTooManyRequests:
		hint = "GitHub rate limited the request on every attempt; try again later"
	default:
		hint = fmt.Sprintf("GitHub refused the request about %s", where)
	}
	return &githubError{hint: hint, detail: said, err: err}
}

// message is GitHub's message with the details of its errors list.
func message(er *github.ErrorResponse) string {
	m := strings.Join(strings.Fields(er.Message), " ")
	for _, e := range er.Errors {
		if d := strings.TrimSpace(e.Message + " " + e.Field + " " + e.Code); d != "" {
			m += "; " + d
		}
	}
	return m
}
