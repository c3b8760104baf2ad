package seal

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"unicode"
)

// The environment variables FromEnv reads.
const (
	EnvKey     = "TOKENWARD_MASTER_KEY"      // base64 master key(s), primary first
	EnvKeyFile = "TOKENWARD_MASTER_KEY_FILE" // a file holding the same
)

// FromEnv builds a keyring from TOKENWARD_MASTER_KEY or, when that is empty,
// from the file named by TOKENWARD_MASTER_KEY_FILE. Either holds one or more
// base64 keys of 32 bytes separated by commas or whitespace: the first is the
// primary, the rest are older keys kept for opening during a rekey. Lines of
// the file starting with # are comments. getenv is os.Getenv in production.
func FromEnv(getenv func(string) string) (*Keyring, error) {
	if v := getenv(EnvKey); strings.TrimSpace(v) != "" {
		return parseKeys(EnvKey, v)
	}
	path := getenv(EnvKeyFile)
	if path == "" {
		return nil, fmt.Errorf("%w: set %s or %s to base64 of 32 random bytes", ErrNoKey, EnvKey, EnvKeyFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", EnvKeyFile, err) // err names the path
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			lines = append(lines, line)
		}
	}
	return parseKeys(path, strings.Join(lines, "\n"))
}

// parseKeys parses the keys in s; source names where s came from in errors.
func parseKeys(source, s string) (*Keyring, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: %w", source, ErrNoKey)
	}
	keys := make([]Key, len(fields))
	for i, f := range fields {
		key, err := ParseKey(f)
		if err != nil {
			return nil, fmt.Errorf("%s: key %d: %w", source, i+1, err)
		}
		keys[i] = key
	}
	return NewKeyring(keys[0], keys[1:]...), nil
}

// LooseKeyFile reports the mode of a key file that its group or others may
// read or write: whoever reads the master key opens every sealed value and
// can issue tokens. It reports nothing on Windows, whose files have no such
// bits, or when the file cannot be read, which reading the key reports.
func LooseKeyFile(path string) (os.FileMode, bool) {
	if runtime.GOOS == "windows" {
		return 0, false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return fi.Mode().Perm(), fi.Mode().Perm()&0o077 != 0
}
