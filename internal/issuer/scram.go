package issuer

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// scramIterations is PostgreSQL's default (scram_iterations), the cost a
// server-side PASSWORD 'plaintext' would have used.
const scramIterations = 4096

// scramVerifier computes the SCRAM-SHA-256 verifier PostgreSQL stores in
// pg_authid for password, in its text form
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// (RFC 5802 section 3 and RFC 7677; PostgreSQL's scram_build_secret). An
// ALTER ROLE … PASSWORD given a verifier stores it as it is, so the
// plaintext never reaches the server, its logs or pg_stat_statements.
//
// Why no library: pgx computes the client side of a SCRAM exchange but not a
// stored verifier, and the few Go packages that do are not in go.mod; the
// standard library has every primitive (crypto/pbkdf2 since Go 1.24), and
// the whole computation is the six lines below. The password must already
// be printable ASCII (checkPassword), for which SASLprep, which PostgreSQL
// applies first, changes nothing.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("scram salt: %w", err)
	}
	return scramVerifierWith(password, salt, scramIterations)
}

func scramVerifierWith(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
