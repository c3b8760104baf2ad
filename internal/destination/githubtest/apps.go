package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

type app struct {
	id             int64
	installationID int64
	key            *rsa.PublicKey
}

// AddApp registers a GitHub App with one installation and returns the app's
// private key in PEM. A JWT signed with it (RS256, iss = the app id)
// exchanges for an installation token that may write secrets and comments,
// acting as "app-<appID>[bot]".
func (s *Server) AddApp(appID, installationID int64) (privateKeyPEM []byte) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatalf("githubtest: generate app key: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appID] = &app{id: appID, installationID: installationID, key: &k.PublicKey}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// createInstallationToken implements POST /app/installations/{id}/access_tokens.
func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request) {
	raw, ok := bearer(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, message("A JSON web token could not be decoded"))
		return
	}
	var a *app
	_, err := jwt.ParseWithClaims(raw, &jwt.RegisteredClaims{}, func(t *jwt.Token) (any, error) {
		c, _ := t.Claims.(*jwt.RegisteredClaims)
		id, err := strconv.ParseInt(c.Issuer, 10, 64)
		if err != nil {
			return nil, errors.New("iss is not an app id")
		}
		s.mu.Lock()
		a = s.apps[id]
		s.mu.Unlock()
		if a == nil {
			return nil, errors.New("no such app")
		}
		return a.key, nil
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, message("'Issuer' claim ('iss') is invalid or the JSON web token could not be verified"))
		return
	}
	if strconv.FormatInt(a.installationID, 10) != r.PathValue("id") {
		notFound(w)
		return
	}
	tok := "ghs_" + randomString(36)
	s.mu.Lock()
	s.tokens[tok] = TokenGrant{Login: fmt.Sprintf("app-%d[bot]", a.id), WriteSecrets: true, WriteComments: true}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":       tok,
		"expires_at":  time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"permissions": map[string]string{"secrets": "write", "dependabot_secrets": "write", "organization_secrets": "write", "issues": "write", "pull_requests": "write"},
	})
}
